from django.core.management.base import BaseCommand
from django.db import transaction

from ...models import Author


class Command(BaseCommand):
    help = "Add an author and rename it, in one transaction."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, name, **options):
        with transaction.atomic():
            author = Author.objects.create(name=name)
            author.name = name.title()
            author.save()
        self.stdout.write(str(author.pk))
