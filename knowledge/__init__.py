"""Knowledge: sources, chunking, retrieval, embeddings and the concept tree."""
