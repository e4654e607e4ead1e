"""The papers' claims, declared once (:mod:`.registry`), and the findings table that tests
them on a dataset's runs (:mod:`.table`)."""
