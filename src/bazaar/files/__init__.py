"""Uploads (`/api/files`, `/uploads`): streamed to disk, typed from their content."""
