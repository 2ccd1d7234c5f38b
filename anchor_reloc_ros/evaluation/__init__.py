"""Evaluation: run the Localizer on posed frames and report (imports core + data only)."""
