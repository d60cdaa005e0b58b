"""Data files shipped with buildorch: profiles/ and dockerfiles/ of the repository."""
