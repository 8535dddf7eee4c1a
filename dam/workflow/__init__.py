"""Review workflow (draft → in_review → approved | rejected) and rights expiry."""
