"""Django's admin, with the CDP's admin site (cdp_site.admin_site) as its default site."""

from django.contrib.admin.apps import AdminConfig


class CdpAdminConfig(AdminConfig):
    """The dashboard first, navigation by the steward's jobs."""

    default_site = "cdp_site.admin_site.CdpAdminSite"
