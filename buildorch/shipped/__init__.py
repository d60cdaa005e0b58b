"""Data files shipped with buildorch: profiles/ and dockerfiles/ of the repository, and the
cross-compiling kit (cross/kit.sh) that derived Dockerfiles carry."""
