"""The auth API: sign up, log in, log out (who am I, with the workspaces: workspaces/api.py)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .authentication import UIAPIMixin
from .serializers import LoginSerializer, SessionSerializer, SignupSerializer


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

    @extend_schema(
        request=SignupSerializer,
        responses={201: SessionSerializer},
        auth=[],
        tags=["auth"],
        summary="Create an account and get a session token",
    )
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

    @extend_schema(
        request=LoginSerializer,
        responses={200: SessionSerializer},
        auth=[],
        tags=["auth"],
        summary="Log in and get a session token",
    )
    def post(self, request):
        data = LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_login(request=request, **data.validated_data)
        issued = services.session_token_issue(user=user, user_agent=_user_agent(request))
        return Response(_session_answer(issued))


class LogoutView(UIAPIMixin, APIView):
    authentication_classes = UIAPIMixin.authentication_classes[:1]

    @extend_schema(request=None, responses={204: None}, tags=["auth"], summary="End this session token")
    def post(self, request):
        services.session_token_revoke(session=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutEverywhereView(UIAPIMixin, APIView):
    authentication_classes = UIAPIMixin.authentication_classes[:1]

    @extend_schema(
        request=None,
        responses={204: None},
        tags=["auth"],
        summary="End every session token and browser session of this user",
    )
    def post(self, request):
        services.sessions_end_everywhere(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
