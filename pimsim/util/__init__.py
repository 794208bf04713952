"""Small helpers shared by every stage: YAML loading with clear errors, pydantic error formatting."""
