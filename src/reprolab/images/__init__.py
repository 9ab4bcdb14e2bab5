"""The image track: IDX files, imbalanced MNIST / Fashion-MNIST, the CNN and MLP, training and evaluation."""
