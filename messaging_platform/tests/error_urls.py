"""The project's URLs plus views that fail on purpose, for the error-format tests."""

from django.db import OperationalError
from django.http import HttpResponse
from django.urls import path
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging_platform.urls import urlpatterns as project_urlpatterns


class Boom(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        raise RuntimeError("secret internals: password=hunter2")

    def post(self, request):
        return Response({"received": request.data})


class DatabaseDown(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        raise OperationalError("could not connect to server: Connection refused")


class RedisDown(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")


def plain_boom(request):
    raise ValueError("a plain Django view failed")


def page_boom(request):
    raise ValueError("a page failed")


def ok(request):
    return HttpResponse("ok")


urlpatterns = [
    path("api/test/boom", Boom.as_view()),
    path("api/test/database-down", DatabaseDown.as_view()),
    path("api/test/redis-down", RedisDown.as_view()),
    path("api/test/plain-boom", plain_boom),
    path("test/page-boom", page_boom),
    *project_urlpatterns,
]


class DatabaseRefusesValue(APIView):
    """A value PostgreSQL cannot take for its type: a real DataError from the database."""

    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::integer", [request.GET.get("n", "not a number")])
        return Response({})


urlpatterns.insert(0, path("api/test/data-error", DatabaseRefusesValue.as_view()))
