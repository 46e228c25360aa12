"""A model with a column of every type the Django backend stores natively."""

from django.db import models


class Sample(models.Model):
    id = models.CharField(primary_key=True, max_length=40)
    small = models.IntegerField(null=True)
    big = models.BigIntegerField(null=True)
    ratio = models.FloatField(null=True)
    infinite = models.FloatField(null=True)
    not_a_number = models.FloatField(null=True)
    price = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    flag = models.BooleanField(null=True)
    label = models.CharField(max_length=100, null=True)
    text = models.TextField(null=True)
    nothing = models.CharField(max_length=10, null=True)
    moment = models.DateTimeField(null=True)
    day = models.DateField(null=True)
    at = models.TimeField(null=True)
    span = models.DurationField(null=True)
    token = models.UUIDField(null=True)
    blob = models.BinaryField(null=True)
    data = models.JSONField(null=True)
