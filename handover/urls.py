"""Pages of the handover: the inbox of human agents and the customer's web chat."""

from django.urls import path

from handover import customer_views, saved_search_views, views

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path(
        "inbox/conversations/<uuid:conversation_id>/",
        views.inbox_conversation,
        name="inbox-conversation",
    ),
    path(
        "inbox/conversations/<uuid:conversation_id>/resolve",
        views.inbox_resolve,
        name="inbox-resolve",
    ),
    path(
        "inbox/conversations/<uuid:conversation_id>/hand-back",
        views.inbox_hand_back,
        name="inbox-hand-back",
    ),
    path(
        "inbox/conversations/<uuid:conversation_id>/transfer",
        views.inbox_transfer,
        name="inbox-transfer",
    ),
    path(
        "inbox/conversations/<uuid:conversation_id>/requeue",
        views.inbox_requeue,
        name="inbox-requeue",
    ),
    path(
        "inbox/conversations/<uuid:conversation_id>/files",
        views.inbox_files,
        name="inbox-files",
    ),
    path(
        "inbox/conversations/<uuid:conversation_id>/tags",
        views.inbox_tags,
        name="inbox-tags",
    ),
    path(
        "inbox/conversations/<uuid:conversation_id>/customer",
        views.inbox_customer,
        name="inbox-customer",
    ),
    path(
        "inbox/handoffs/<int:handoff_id>/priority",
        views.inbox_priority,
        name="inbox-priority",
    ),
    path(
        "inbox/conversations/<uuid:conversation_id>/transcript",
        views.inbox_transcript,
        name="inbox-transcript",
    ),
    path(
        "inbox/conversations/<uuid:conversation_id>/block",
        views.inbox_block,
        name="inbox-block",
    ),
    path(
        "inbox/conversations/<uuid:conversation_id>/merge",
        views.inbox_merge,
        name="inbox-merge",
    ),
    path("inbox/history/", views.inbox_history, name="inbox-history"),
    path("inbox/history/export.csv", views.inbox_history_export, name="inbox-history-export"),
    path("inbox/history/bulk", views.inbox_history_bulk, name="inbox-history-bulk"),
    path(
        "inbox/history/searches",
        saved_search_views.inbox_history_search_save,
        name="inbox-history-search-save",
    ),
    path(
        "inbox/history/searches/<int:pk>/remove",
        saved_search_views.inbox_history_search_remove,
        name="inbox-history-search-remove",
    ),
    path("inbox/team/", views.inbox_team, name="inbox-team"),
    path("inbox/customers/", customer_views.inbox_customers, name="inbox-customers"),
    path("inbox/customers/one", customer_views.inbox_customer, name="inbox-customer-page"),
    path(
        "inbox/team/handoffs/<int:handoff_id>/give",
        views.inbox_team_give,
        name="inbox-team-give",
    ),
    path(
        "inbox/conversations/<uuid:conversation_id>/view",
        views.inbox_conversation_page,
        name="inbox-conversation-page",
    ),
    path("inbox/handoffs/<int:handoff_id>/claim", views.inbox_claim, name="inbox-claim"),
    path("chat/<slug:slug>/", views.chat, name="chat"),
    path("chat/<slug:slug>/start", views.chat_start, name="chat-start"),
    path("chat/<slug:slug>/resume", views.chat_resume, name="chat-resume"),
    path("chat/<slug:slug>/conversations", views.chat_conversations, name="chat-conversations"),
    path("chat/<slug:slug>/rate", views.chat_rate, name="chat-rate"),
    path("chat/<slug:slug>/rate/comment", views.chat_rate_comment, name="chat-rate-comment"),
    path("chat/<slug:slug>/email", views.chat_email, name="chat-email"),
    path("chat/<slug:slug>/transcript", views.chat_transcript, name="chat-transcript"),
    path("chat/<slug:slug>/preview/", views.chat_preview, name="chat-preview"),
    path("chat/<slug:slug>/look", views.chat_look_json, name="chat-look"),
    path("chat/<slug:slug>/files", views.chat_files, name="chat-files"),
    path("files/<str:signed>/<path:name>", views.attachment, name="attachment"),
]
