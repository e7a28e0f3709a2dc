"""The HTML report: templates and rendering from the run store. No mathematics lives here."""

from ._render import slug, write_report

__all__ = ["slug", "write_report"]
