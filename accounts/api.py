"""The auth API: sign up, log in, log out, who am I."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging_platform.api.mixins import UIAPIMixin
from workspaces.selectors import workspaces_for_user

from . import services
from .serializers import LoginSerializer, MeSerializer, SessionSerializer, SignupSerializer


def _session_answer(issued) -> dict:
    return SessionSerializer(
        {"token": issued.token, "expires_at": issued.expires_at, "user": issued.session.user}
    ).data


def _user_agent(request) -> str:
    return request.headers.get("User-Agent", "")


class SignupView(UIAPIMixin, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(request=SignupSerializer, responses={201: SessionSerializer}, auth=[],
                   tags=["auth"], summary="Create an account and get a session token")
    def post(self, request):
        data = SignupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_signup(**data.validated_data)
        issued = services.session_token_issue(user=user, user_agent=_user_agent(request))
        return Response(_session_answer(issued), status=status.HTTP_201_CREATED)


class LoginView(UIAPIMixin, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(request=LoginSerializer, responses={200: SessionSerializer}, auth=[],
                   tags=["auth"], summary="Log in and get a session token")
    def post(self, request):
        data = LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_login(request=request, **data.validated_data)
        issued = services.session_token_issue(user=user, user_agent=_user_agent(request))
        return Response(_session_answer(issued))


class LogoutView(UIAPIMixin, APIView):
    authentication_classes = UIAPIMixin.authentication_classes[:1]

    @extend_schema(request=None, responses={204: None}, tags=["auth"],
                   summary="End this session token")
    def post(self, request):
        services.session_token_revoke(session=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(UIAPIMixin, APIView):
    @extend_schema(responses=MeSerializer, tags=["auth"], summary="Who am I, with my workspaces")
    def get(self, request):
        workspaces = [
            {"id": ws.id, "name": ws.name, "role": role, "created_at": ws.created_at}
            for ws, role in workspaces_for_user(user=request.user)
        ]
        user = request.user
        return Response(MeSerializer({"id": user.id, "email": user.email, "name": user.name,
                                      "workspaces": workspaces}).data)


class LogoutEverywhereView(UIAPIMixin, APIView):
    authentication_classes = UIAPIMixin.authentication_classes[:1]

    @extend_schema(request=None, responses={204: None}, tags=["auth"],
                   summary="End every session token and browser session of this user")
    def post(self, request):
        services.sessions_end_everywhere(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
