"""Third-party model code kept verbatim (with its licence notice), for reference tests only."""
