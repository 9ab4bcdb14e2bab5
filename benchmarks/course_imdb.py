"""Course 002's IMDB configuration as one script, in the course's own code, for benchmarks/end_to_end.py.

Read every review, tokenize (generate_list_of_tokens: lowercase, no punctuation), a Counter vocabulary of the
20,000 most frequent train words, the one-hot rows cached as dense tensors in the Dataset's __init__
(II.2.c), DataLoaders of batch 128 (train shuffled), OneHotMLP, SGD lr 0.01, BCEWithLogitsLoss, 5 epochs,
then test accuracy. torchtext's IMDB reader no longer installs; reading the extracted archive's files
stands in for it, with its labels (1 negative, 2 positive). Two departures: accuracy is over the whole test
split (the notebook's evaluate returned after its first batch), and the loaders do not pin memory (there is
no GPU to pin for).

It is self-contained on purpose, rather than calling `reprolab.speed.course` or `benchmarks/imdb.py`'s copies
of these classes: the course's side must not pay this package's imports (torchvision among them) or use its
archive reader.

    python benchmarks/course_imdb.py <folder holding aclImdb/>
"""

import re
import string
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, Dataset

ROOT = Path(sys.argv[1]) / "aclImdb"
vocab_size, batch_size, num_epochs, lr = 20000, 128, 5, 0.01
device = torch.device("cpu")


def IMDB(split):
    for label, folder in ((1, "neg"), (2, "pos")):
        for path in sorted((ROOT / split / folder).glob("*.txt")):
            yield label, path.read_text(encoding="utf-8")


def generate_list_of_tokens(sentence):
    sentence = sentence.lower()
    translator = str.maketrans("", "", string.punctuation)
    sentence = sentence.translate(translator)
    return re.findall(r"\b\w+\b", sentence)


def return_vocab_in_sentence(sentence, vocab):
    return [vocab.get(word, 0) for word in set(generate_list_of_tokens(sentence))]  # 0 for OOV


class IMDBDataset(Dataset):
    def __init__(self, split, vocab):
        data = list(IMDB(split=split))
        self.vocab = vocab
        self.labels = [torch.tensor(1) if item[0] == 1 else torch.tensor(0) for item in data]
        self.sentences = []
        for label, line in data:
            X = torch.zeros(len(self.vocab) + 1)
            X[return_vocab_in_sentence(line, self.vocab)] = 1
            self.sentences.append(X)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return self.sentences[idx], self.labels[idx]


class OneHotMLP(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.fc1 = nn.Linear(vocab_size + 1, 200)
        self.fc2 = nn.Linear(200, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        o = self.fc1(x.float())
        o = self.relu(o)
        return self.fc2(o)


def evaluate(model, test_loader):
    model.eval()
    with torch.no_grad():
        correct = total = 0
        for inputs, labels in test_loader:
            outputs = model(inputs.to(device))
            predicted = torch.round(torch.sigmoid(outputs)).view(-1)
            total += labels.size(0)
            correct += (predicted == labels.to(device).view(-1)).sum().item()
    return 100 * correct / total


def train_model(model, criterion, optimizer, num_epochs, train_loader, test_loader):
    for epoch in range(num_epochs):
        epoch_start_time = time.time()
        model.train()
        for inputs, labels in train_loader:
            outputs = model(inputs.to(device))
            loss = criterion(outputs.view(-1), labels.to(device).view(-1).float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"Epoch [{epoch + 1}/{num_epochs}], Loss: {loss.item():.4f}, "
              f"Elapsed Time: {time.time() - epoch_start_time:.2f} sec", flush=True)
    return evaluate(model, test_loader)


counter = Counter()
for label, line in list(IMDB(split="train")):
    counter.update(generate_list_of_tokens(line))
most_frequent_words = sorted(counter, key=counter.get, reverse=True)[:vocab_size]
vocab = {word: i for i, word in enumerate(most_frequent_words, 1)}
train_data, test_data = IMDBDataset("train", vocab), IMDBDataset("test", vocab)
train_loader = DataLoader(train_data, batch_size=batch_size, shuffle=True, num_workers=0)
test_loader = DataLoader(test_data, batch_size=batch_size, shuffle=False, num_workers=0)
model = OneHotMLP(len(vocab)).to(device)
test_accuracy = train_model(model, nn.BCEWithLogitsLoss(), optim.SGD(model.parameters(), lr=lr), num_epochs,
                            train_loader, test_loader)
print(f"test_accuracy={test_accuracy / 100:.4f}")
