"""train-fast's phase 1: the slim encoder distilled from VGG-19. Its four taps, each through a
learned 1x1 projection to VGG's width, regress VGG-19's relu1_1..relu4_1 (after Wang et al.
2020, "Collaborative Distillation"); the projections serve training only."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from stylize.models.networks import FAST, Encoder


def student_encoder(shape=FAST):
    """A trainable slim encoder whose 1x1 preprocess only centres RGB around zero."""
    student = Encoder(shape)
    with torch.no_grad():
        student.preprocess.weight.copy_(torch.eye(3)[:, :, None, None])
        student.preprocess.bias.fill_(-0.5)
    for conv in student.convs.values():
        conv.requires_grad_(True)
    return student


def projections(shape=FAST, teacher_widths=(64, 128, 256, 512)):
    """1x1 convolutions from the student's taps to the teacher's (used in training only)."""
    return nn.ModuleList(nn.Conv2d(cin, cout, 1) for cin, cout in zip(shape.widths, teacher_widths))


def project(projection, taps):
    return [p(t) for p, t in zip(projection, taps)]


def distillation_loss(student, projection, teacher, images):
    """Mean over the taps of the regression error, each relative to the teacher tap's variance
    (so that every tap counts, whatever its scale): 1 - explained variance."""
    with torch.no_grad():
        targets = teacher(images)
    predicted = project(projection, student(images))
    return sum(F.mse_loss(p, t) / t.var() for p, t in zip(predicted, targets)) / len(targets)


@torch.no_grad()
def initialise_from_data(student, projection, teacher, images):
    """A data-driven start: each student conv scaled to unit output std on real images (LSUV,
    Mishkin & Matas 2016), then each projection solved by least squares against the teacher.

    From the default init, Adam needs about a thousand steps just to grow the student's weights
    to the teacher's scale; from here the projected taps already explain much of the teacher's
    variance at step 0.
    """
    x = student.preprocess(images)
    for name, conv in student.convs.items():
        conv.weight /= conv(x).std()
        x = F.relu(conv(x))
        if name in student.pool_after:
            x = F.max_pool2d(x, 2, ceil_mode=True)
    for proj, ours, theirs in zip(projection, student(images), teacher(images)):
        inputs = ours.permute(0, 2, 3, 1).reshape(-1, ours.shape[1])
        inputs = torch.cat([inputs, torch.ones(len(inputs), 1, device=inputs.device)], dim=1)
        solution = torch.linalg.lstsq(inputs, theirs.permute(0, 2, 3, 1).reshape(-1, theirs.shape[1])).solution
        proj.weight.copy_(solution[:-1].T[:, :, None, None])
        proj.bias.copy_(solution[-1])
