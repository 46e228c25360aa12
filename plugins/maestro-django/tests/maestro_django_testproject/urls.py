from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("authors/", views.create_author),
    path("authors/fail/", views.create_author_then_fail),
    path("authors/crash/", views.create_author_then_crash),
]
