from django.apps import AppConfig


class StacksConfig(AppConfig):
    name = "stacks"
    verbose_name = "Stack templates"
    default_auto_field = "django.db.models.BigAutoField"
