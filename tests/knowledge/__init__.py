"""Tests of the knowledge base: loaders, chunking, embeddings, retrieval, demos."""
