"""The results API (FastAPI) and its typed httpx client."""
