from django.apps import AppConfig


class ToolsConfig(AppConfig):
    """Tools beside the product (the traffic simulator): management commands only, no models."""

    name = "tools"
    verbose_name = "Tools"
