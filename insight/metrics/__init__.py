"""Metrics of SPEC 9 (``selectors``), the window they are read over (``window``), the
``GET /api/v1/metrics`` endpoint (``api``) and the dashboard's SVG charts (``charts``)."""
