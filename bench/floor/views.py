from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Note


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "to", "body", "created_at"]
        extra_kwargs = {"body": {"max_length": 1600}}


class NoteView(APIView):
    """JSON in, validate, one INSERT, 201: the floor."""

    def post(self, request):
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=201)
