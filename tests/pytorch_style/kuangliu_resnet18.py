"""A CIFAR-10 trainer in the style of kuangliu/pytorch-cifar (models/resnet.py + main.py):
ResNet-18 with 1x1-convolution shortcuts, an empty nn.Sequential() as the identity,
`out += self.shortcut(x)`, F.avg_pool2d(out, 4) and out.view(out.size(0), -1); SGD with
momentum 0.9 and weight decay 5e-4, CosineAnnealingLR, train_loss += loss.item(),
`_, predicted = outputs.max(1)`, predicted.eq(targets).sum().item(); and its VGG
(models/vgg.py: nn.ReLU(inplace=True) in an nn.Sequential). Plain PyTorch;
tests/test_pytorch_style.py runs it under minires with only the imports swapped.

Differences from kuangliu's, none in the idioms: the data come as arrays through a
TensorDataset (no torchvision, so no RandomCrop/RandomHorizontalFlip), `width` can make
the net narrower than 64 (the tests train on CPU), the loops stop after `steps` batches,
no DataParallel, and the checkpoint's torch.save is left out (minires has none yet).
"""

import torch
import torch.backends.cudnn as cudnn
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super(BasicBlock, self).__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion * planes)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10, width=64):
        super(ResNet, self).__init__()
        self.in_planes = width

        self.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = self._make_layer(block, width, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, width * 2, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, num_blocks[3], stride=2)
        self.linear = nn.Linear(width * 8 * block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for stride in strides:
            layers.append(block(self.in_planes, planes, stride))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.avg_pool2d(out, 4)
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


def ResNet18(width=64):
    return ResNet(BasicBlock, [2, 2, 2, 2], width=width)


cfg = {
    'VGG11': [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
}


class VGG(nn.Module):
    """models/vgg.py: nn.ReLU(inplace=True) after every BatchNorm2d, nn.Sequential(*layers)."""

    def __init__(self, vgg_name, width=64):
        super(VGG, self).__init__()
        self.scale = width / 64
        self.features = self._make_layers(cfg[vgg_name])
        self.classifier = nn.Linear(int(512 * self.scale), 10)

    def forward(self, x):
        out = self.features(x)
        out = out.view(out.size(0), -1)
        out = self.classifier(out)
        return out

    def _make_layers(self, cfg):
        layers = []
        in_channels = 3
        for x in cfg:
            if x == 'M':
                layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                x = int(x * self.scale)
                layers += [nn.Conv2d(in_channels, x, kernel_size=3, padding=1),
                           nn.BatchNorm2d(x),
                           nn.ReLU(inplace=True)]
                in_channels = x
        layers += [nn.AvgPool2d(kernel_size=1, stride=1)]
        return nn.Sequential(*layers)


device = 'cuda' if torch.cuda.is_available() else 'cpu'


def build(width=64, arch='ResNet18'):
    print('==> Building model..')
    net = ResNet18(width) if arch == 'ResNet18' else VGG(arch, width)
    net = net.to(device)
    if device == 'cuda':
        cudnn.benchmark = True
    return net


def loaders(train, test, batch_size=128, shuffle=True):
    """Arrays -> normalised float tensors -> TensorDatasets, as transforms.Normalize(MEAN, STD) would."""
    print('==> Preparing data..')
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)

    def to_dataset(rows, labels):
        images = torch.from_numpy(rows).float().div(255).view(-1, 3, 32, 32)
        return TensorDataset((images - mean) / std, torch.tensor(labels))

    trainloader = DataLoader(to_dataset(*train), batch_size=batch_size, shuffle=shuffle, num_workers=0)
    testloader = DataLoader(to_dataset(*test), batch_size=100, shuffle=False, num_workers=0)
    return trainloader, testloader


def run(net, trainloader, testloader, epochs=1, steps=None, lr=0.1):
    """kuangliu's main.py: train(epoch), test(epoch), scheduler.step() per epoch.
    Returns the per-step train losses and the best test accuracy (a fraction)."""
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=200)
    losses = []
    best_acc = 0

    # Training
    def train(epoch):
        print('\nEpoch: %d' % epoch)
        net.train()
        train_loss = 0
        correct = 0
        total = 0
        for batch_idx, (inputs, targets) in enumerate(trainloader):
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()

            train_loss += loss.item()
            losses.append(loss.item())
            _, predicted = outputs.max(1)
            total += targets.size(0)
            correct += predicted.eq(targets).sum().item()

            print(batch_idx, len(trainloader), 'Loss: %.3f | Acc: %.3f%% (%d/%d)'
                  % (train_loss / (batch_idx + 1), 100. * correct / total, correct, total))
            if steps is not None and batch_idx + 1 == steps:
                break

    def test(epoch):
        nonlocal best_acc
        net.eval()
        test_loss = 0
        correct = 0
        total = 0
        with torch.no_grad():
            for batch_idx, (inputs, targets) in enumerate(testloader):
                inputs, targets = inputs.to(device), targets.to(device)
                outputs = net(inputs)
                loss = criterion(outputs, targets)

                test_loss += loss.item()
                _, predicted = outputs.max(1)
                total += targets.size(0)
                correct += predicted.eq(targets).sum().item()

                print(batch_idx, len(testloader), 'Loss: %.3f | Acc: %.3f%% (%d/%d)'
                      % (test_loss / (batch_idx + 1), 100. * correct / total, correct, total))

        # Save checkpoint.
        acc = 100. * correct / total
        if acc > best_acc:
            print('Saving..')
            state = {
                'net': net.state_dict(),
                'acc': acc,
                'epoch': epoch,
            }
            assert state['net']  # torch.save(state, './checkpoint/ckpt.pth') once minires has it
            best_acc = acc

    for epoch in range(epochs):
        train(epoch)
        test(epoch)
        scheduler.step()
    return losses, best_acc / 100


def main(train_data, test_data, steps=None, batch_size=128, width=64, arch='ResNet18'):
    torch.manual_seed(0)
    trainloader, testloader = loaders(train_data, test_data, batch_size)
    net = build(width, arch)
    return run(net, trainloader, testloader, steps=steps)
