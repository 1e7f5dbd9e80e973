"""The change-management integration, in one folder (models of the ``releases`` app):
inbound webhooks — ``signature`` and ``secrets``, ``adapters`` (ServiceNow, Jira, generic) and the
``services`` that store and process deliveries — and outbound status ``callbacks``; ``selectors``
and ``filtersets`` shared by the pages (``views``, ``urls``) and the ``api/``; Celery entry points in
``tasks``; the ``admin``. Its templates are in ``templates/releases/webhooks/``."""
