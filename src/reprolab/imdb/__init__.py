"""The IMDB track: reviews, vocabulary, encodings, the bag-of-words models and the course's sweeps."""
