"""Operations endpoints outside /api: health, Prometheus metrics, offline API docs."""
