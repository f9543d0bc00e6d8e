"""What runs on its own: the pre-market analysis, the slot schedule, the after-close upkeep."""
