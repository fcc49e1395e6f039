"""A CIFAR-10 ResNet-20 in the style of akamaster/pytorch_resnet_cifar10 (resnet.py +
trainer.py): `self.apply(_weights_init)` with init.kaiming_normal_, option-A shortcuts as a
LambdaLayer around F.pad(x[:, :, ::2, ::2], ...), F.avg_pool2d(out, out.size()[3]); the
trainer's AverageMeter, top-1 accuracy through output.topk / pred.t() / pred.eq(...expand_as),
correct_k.mul_(100.0 / batch_size), MultiStepLR, and model.train()/model.eval(). Plain
PyTorch; tests/test_pytorch_style.py runs it under minires with only the imports swapped.

Differences from akamaster's, none in the idioms: arrays through a TensorDataset instead of
torchvision, `.to(device)` instead of `.cuda()`, no DataParallel or checkpoint files, and
the loops stop after `steps` batches.
"""

import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.init as init
import torch.utils.data
from torch.autograd import Variable  # noqa: F401  (resnet.py imports it; nothing uses it)

__all__ = ['ResNet', 'resnet20']


def _weights_init(m):
    classname = m.__class__.__name__  # noqa: F841
    # print(classname)
    if isinstance(m, nn.Linear) or isinstance(m, nn.Conv2d):
        init.kaiming_normal_(m.weight)


class LambdaLayer(nn.Module):
    def __init__(self, lambd):
        super(LambdaLayer, self).__init__()
        self.lambd = lambd

    def forward(self, x):
        return self.lambd(x)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1, option='A'):
        super(BasicBlock, self).__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            if option == 'A':
                """
                For CIFAR10 ResNet paper uses option A.
                """
                self.shortcut = LambdaLayer(lambda x:
                                            F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4),
                                                  "constant", 0))
            elif option == 'B':
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
    def __init__(self, block, num_blocks, num_classes=10):
        super(ResNet, self).__init__()
        self.in_planes = 16

        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(block, 16, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 32, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 64, num_blocks[2], stride=2)
        self.linear = nn.Linear(64, num_classes)

        self.apply(_weights_init)

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
        out = F.avg_pool2d(out, out.size()[3])
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


def resnet20():
    return ResNet(BasicBlock, [3, 3, 3])


class AverageMeter(object):
    """Computes and stores the average and current value"""
    def __init__(self):
        self.reset()

    def reset(self):
        self.val = 0
        self.avg = 0
        self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count


def accuracy(output, target, topk=(1,)):
    """Computes the precision@k for the specified values of k"""
    maxk = max(topk)
    batch_size = target.size(0)

    _, pred = output.topk(maxk, 1, True, True)
    pred = pred.t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))

    res = []
    for k in topk:
        correct_k = correct[:k].reshape(-1).float().sum(0)
        res.append(correct_k.mul_(100.0 / batch_size))
    return res


device = 'cuda' if torch.cuda.is_available() else 'cpu'


def build():
    model = resnet20()
    model.to(device)
    return model


def loaders(train, test, batch_size=128, shuffle=True):
    normalize = (torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def to_dataset(rows, labels):
        images = torch.from_numpy(rows).float().div(255).view(-1, 3, 32, 32)
        return torch.utils.data.TensorDataset((images - normalize[0]) / normalize[1], torch.tensor(labels))

    train_loader = torch.utils.data.DataLoader(to_dataset(*train), batch_size=batch_size, shuffle=shuffle,
                                               num_workers=0, pin_memory=True)
    val_loader = torch.utils.data.DataLoader(to_dataset(*test), batch_size=128, shuffle=False,
                                             num_workers=0, pin_memory=True)
    return train_loader, val_loader


def train(train_loader, model, criterion, optimizer, epoch, steps=None, print_freq=1, losses_seen=None):
    """Run one train epoch"""
    batch_time = AverageMeter()
    data_time = AverageMeter()
    losses = AverageMeter()
    top1 = AverageMeter()

    # switch to train mode
    model.train()

    end = time.time()
    for i, (input, target) in enumerate(train_loader):

        # measure data loading time
        data_time.update(time.time() - end)

        target = target.to(device)
        input_var = input.to(device)
        target_var = target

        # compute output
        output = model(input_var)
        loss = criterion(output, target_var)

        # compute gradient and do SGD step
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        output = output.float()
        loss = loss.float()
        # measure accuracy and record loss
        prec1 = accuracy(output.data, target)[0]
        losses.update(loss.item(), input.size(0))
        top1.update(prec1.item(), input.size(0))
        if losses_seen is not None:
            losses_seen.append(loss.item())

        # measure elapsed time
        batch_time.update(time.time() - end)
        end = time.time()

        if i % print_freq == 0:
            print('Epoch: [{0}][{1}/{2}]\t'
                  'Time {batch_time.val:.3f} ({batch_time.avg:.3f})\t'
                  'Data {data_time.val:.3f} ({data_time.avg:.3f})\t'
                  'Loss {loss.val:.4f} ({loss.avg:.4f})\t'
                  'Prec@1 {top1.val:.3f} ({top1.avg:.3f})'.format(
                      epoch, i, len(train_loader), batch_time=batch_time,
                      data_time=data_time, loss=losses, top1=top1))
        if steps is not None and i + 1 == steps:
            break


def validate(val_loader, model, criterion):
    """Run evaluation"""
    losses = AverageMeter()
    top1 = AverageMeter()

    # switch to evaluate mode
    model.eval()

    with torch.no_grad():
        for i, (input, target) in enumerate(val_loader):
            target = target.to(device)
            input_var = input.to(device)
            target_var = target.to(device)

            # compute output
            output = model(input_var)
            loss = criterion(output, target_var)

            output = output.float()
            loss = loss.float()

            # measure accuracy and record loss
            prec1 = accuracy(output.data, target)[0]
            losses.update(loss.item(), input.size(0))
            top1.update(prec1.item(), input.size(0))

    print(' * Prec@1 {top1.avg:.3f}'.format(top1=top1))
    return top1.avg


def run(model, train_loader, val_loader, epochs=1, steps=None, lr=0.1):
    """trainer.py's main(): returns the per-step losses and the best top-1 (a fraction)."""
    criterion = nn.CrossEntropyLoss().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr, momentum=0.9, weight_decay=1e-4)
    lr_scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[100, 150], last_epoch=-1)
    best_prec1 = 0
    seen = []
    for epoch in range(epochs):
        # train for one epoch
        print('current lr {:.5e}'.format(optimizer.param_groups[0]['lr']))
        train(train_loader, model, criterion, optimizer, epoch, steps=steps, losses_seen=seen)
        lr_scheduler.step()

        # evaluate on validation set
        prec1 = validate(val_loader, model, criterion)

        # remember best prec@1
        is_best = prec1 > best_prec1
        best_prec1 = max(prec1, best_prec1)
        assert is_best or best_prec1 >= prec1
    return seen, best_prec1 / 100


def main(train_data, test_data, steps=None, batch_size=128):
    torch.manual_seed(0)
    train_loader, val_loader = loaders(train_data, test_data, batch_size)
    model = build()
    return run(model, train_loader, val_loader, steps=steps)
