"""The official PyTorch CIFAR-10 tutorial ("Training a Classifier"), as students copy it:
the small LeNet-style Net, SGD with momentum, running_loss, then accuracy overall and per
class under torch.no_grad(). Plain PyTorch; tests/test_pytorch_style.py runs it under
minires with only the imports swapped, and under torch to compare the losses.

Differences from the tutorial, none in the idioms: the images come as arrays (no
torchvision download), a Dataset here does what ToTensor + Normalize((0.5,)*3, (0.5,)*3)
do, and the loops stop after `steps` batches instead of 2 epochs. torch.save(PATH) is left
out (minires has no torch.save yet).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, Dataset

classes = ('plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')


class CIFARArrays(Dataset):
    """CIFAR rows (N, 3072) uint8 and their labels, as ToTensor() + Normalize(0.5, 0.5) would give them."""

    def __init__(self, rows, labels):
        self.images = rows.reshape(-1, 3, 32, 32)
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        image = torch.from_numpy(self.images[idx]).float().div(255)
        image = (image - 0.5) / 0.5
        return image, self.labels[idx]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def build():
    return Net()


def loaders(train, test, batch_size=4, shuffle=True):
    trainset = CIFARArrays(*train)
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=shuffle, num_workers=0)
    testset = CIFARArrays(*test)
    testloader = DataLoader(testset, batch_size=batch_size, shuffle=False, num_workers=0)
    return trainloader, testloader


def train(net, trainloader, epochs=1, steps=None, lr=0.001, print_every=2000):
    """The tutorial's loop; returns every step's loss.item()."""
    device = torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')
    net.to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=lr, momentum=0.9)

    losses = []
    for epoch in range(epochs):  # loop over the dataset multiple times
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            # get the inputs; data is a list of [inputs, labels]
            inputs, labels = data[0].to(device), data[1].to(device)

            # zero the parameter gradients
            optimizer.zero_grad()

            # forward + backward + optimize
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()

            # print statistics
            running_loss += loss.item()
            losses.append(loss.item())
            if i % print_every == print_every - 1:
                print(f'[{epoch + 1}, {i + 1:5d}] loss: {running_loss / print_every:.3f}')
                running_loss = 0.0
            if steps is not None and len(losses) == steps:
                break

    print('Finished Training')
    return losses


def evaluate(net, testloader):
    """Accuracy overall (a fraction) and per class (percent), the tutorial's two ways."""
    device = torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')
    net.to(device)

    dataiter = iter(testloader)
    images, labels = next(dataiter)
    print('GroundTruth: ', ' '.join(f'{classes[labels[j]]:5s}' for j in range(4)))
    outputs = net(images.to(device))
    _, predicted = torch.max(outputs, 1)
    print('Predicted: ', ' '.join(f'{classes[predicted[j]]:5s}' for j in range(4)))

    correct = 0
    total = 0
    # since we're not training, we don't need to calculate the gradients for our outputs
    with torch.no_grad():
        for data in testloader:
            images, labels = data[0].to(device), data[1].to(device)
            # calculate outputs by running images through the network
            outputs = net(images)
            # the class with the highest energy is what we choose as prediction
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    print(f'Accuracy of the network on the {total} test images: {100 * correct // total} %')

    # prepare to count predictions for each class
    correct_pred = {classname: 0 for classname in classes}
    total_pred = {classname: 0 for classname in classes}
    with torch.no_grad():
        for data in testloader:
            images, labels = data[0].to(device), data[1].to(device)
            outputs = net(images)
            _, predictions = torch.max(outputs, 1)
            # collect the correct predictions for each class
            for label, prediction in zip(labels, predictions):
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1

    per_class = {}
    for classname, correct_count in correct_pred.items():
        accuracy = 100 * float(correct_count) / max(total_pred[classname], 1)
        per_class[classname] = accuracy
        print(f'Accuracy for class: {classname:5s} is {accuracy:.1f} %')
    return correct / total, per_class, predicted


def main(train_data, test_data, epochs=2, steps=None, batch_size=4, lr=0.001):
    torch.manual_seed(0)
    trainloader, testloader = loaders(train_data, test_data, batch_size)
    net = build()
    losses = train(net, trainloader, epochs=epochs, steps=steps, lr=lr)
    accuracy, _, _ = evaluate(net, testloader)
    return losses, accuracy
