"""Customers and orders, as the back office keeps them.

Primary keys are strings such as ``"cus_ada"``: records are created on every
side (the back office, the order service, the mobile app), so ids must be
chosen without asking one database for the next number, and a Firestore
document id is a string.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


def new_customer_id() -> str:
    return f"cus_{uuid.uuid4().hex[:12]}"


def new_order_id() -> str:
    return f"ord_{uuid.uuid4().hex[:12]}"


class Customer(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_customer_id)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    signed_up = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Order(models.Model):
    class Status(models.TextChoices):
        NEW = "new"
        PAID = "paid"
        SHIPPED = "shipped"
        CANCELLED = "cancelled"

    id = models.CharField(primary_key=True, max_length=40, default=new_order_id)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="orders"
    )
    total = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=20, choices=Status, default=Status.NEW)
    placed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"
