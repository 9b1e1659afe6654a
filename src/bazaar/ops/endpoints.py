"""The ops router, mounted at the root by create_app (not under /api)."""

from __future__ import annotations

from fastapi import APIRouter

from bazaar.ops import docs, health, metrics

router = APIRouter()
router.include_router(health.router)
router.include_router(metrics.router)
router.include_router(docs.router)
