"""The served page: sessions, the dashboard grid, header, controls, comparison pages, notebooks
and the page's security policy."""
