"""Models of the test project: every field type Django ships, and the kit's."""

import uuid

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)


class Tag(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    label = models.CharField(max_length=50)


class Everything(models.Model):
    big = models.BigIntegerField(default=0)
    small = models.SmallIntegerField(default=0)
    integer = models.IntegerField(default=0)
    positive = models.PositiveIntegerField(default=0)
    positive_small = models.PositiveSmallIntegerField(default=0)
    positive_big = models.PositiveBigIntegerField(default=0)
    flag = models.BooleanField(default=False)
    maybe = models.BooleanField(null=True)
    char = models.CharField(max_length=20, blank=True)
    text = models.TextField(blank=True)
    slug = models.SlugField(blank=True)
    email = models.EmailField(blank=True)
    url = models.URLField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    ratio = models.FloatField(default=0.0)
    day = models.DateField(null=True)
    moment = models.DateTimeField(null=True)
    at = models.TimeField(null=True)
    span = models.DurationField(null=True)
    token = models.UUIDField(default=uuid.uuid4)
    blob = models.BinaryField(default=b"")
    data = models.JSONField(default=dict, blank=True)
    path = models.FilePathField(path="/tmp", blank=True)
    upload = models.FileField(blank=True)
    picture = models.ImageField(
        blank=True, width_field="picture_width", height_field="picture_height"
    )
    picture_width = models.PositiveIntegerField(null=True, blank=True)
    picture_height = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    author = models.ForeignKey(Author, null=True, on_delete=models.SET_NULL)
    tags = models.ManyToManyField(Tag, blank=True)
    passport = models.OneToOneField(
        Author, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    is_staff = models.BooleanField(default=False)


class Book(models.Model):
    title = models.CharField(max_length=10)
    isbn = models.CharField(max_length=20, unique=True)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    pages = models.PositiveIntegerField(default=1)


class ConformanceItem(models.Model):
    id = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=200)
    count = models.IntegerField(default=0)
    email = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=200, blank=True)


class Unsynced(models.Model):
    name = models.CharField(max_length=100)


class FloatKey(models.Model):
    """A primary key no item id can name (for the system checks)."""

    value = models.FloatField(primary_key=True)


class AuthorProxy(Author):
    """Saves through a proxy are captured as saves of the concrete model."""

    class Meta:
        proxy = True
