"""The role dashboards: the home page, one set of cards per role (``cards.CARDS``)."""
