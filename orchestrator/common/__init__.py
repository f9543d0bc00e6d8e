"""Small helpers every layer may use: the clock, retries, secret redaction, headless charts."""
