"""Pages of approvals: the live queue with its history, one request, approve and deny."""

from django.urls import path

from approvals import views

urlpatterns = [
    path("", views.approval_index, name="approvals"),
    path("pending/", views.approval_pending_fragment, name="approvals-pending"),
    path("history/", views.approval_history_fragment, name="approvals-history"),
    path("<int:approval_id>/", views.approval_detail, name="approval-detail"),
    path("<int:approval_id>/body/", views.approval_body_fragment, name="approval-body"),
    path("<int:approval_id>/approve", views.approval_approve, name="approval-approve"),
    path("<int:approval_id>/deny", views.approval_deny, name="approval-deny"),
]
