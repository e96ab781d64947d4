"""UI API for a workspace's carrier account and numbers; the integrator's read-only numbers and
workspace settings."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging_platform.api.idempotency import idempotent
from workspaces.scoping import IntegratorWorkspaceMixin, WorkspaceMemberMixin

from . import selectors, services
from .models import CarrierRoute, PhoneNumber, ProviderAccount
from .serializers import (
    CarrierAccountInputSerializer,
    CarrierAccountSerializer,
    CarrierAccountUpdateSerializer,
    CarrierRouteInputSerializer,
    CarrierRouteSerializer,
    IntegratorWorkspaceSerializer,
    NumbersImportSerializer,
    PhoneNumberInputSerializer,
    PhoneNumberSerializer,
    PhoneNumberUpdateSerializer,
    ProviderAccountInputSerializer,
    ProviderAccountSerializer,
    ProviderTestSerializer,
)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(tags=["provider"])
class ProviderAccountView(WorkspaceMemberMixin, APIView):
    @extend_schema(
        responses=ProviderAccountSerializer,
        summary="The workspace's carrier account (provider is null when none)",
    )
    def get(self, request, workspace_id):
        account = selectors.workspace_provider_account(workspace=self.workspace)
        return Response(ProviderAccountSerializer.answer(account))

    @extend_schema(
        request=ProviderAccountInputSerializer,
        responses=ProviderAccountSerializer,
        summary="Set the carrier account (Twilio credentials are checked first)",
    )
    def put(self, request, workspace_id):
        data = _valid(ProviderAccountInputSerializer, request.data)
        account = services.provider_account_set(workspace=self.workspace, **data)
        return Response(ProviderAccountSerializer.answer(account))


@extend_schema(tags=["provider"])
class ProviderAccountTestView(WorkspaceMemberMixin, APIView):
    @extend_schema(
        request=None,
        responses=ProviderTestSerializer,
        summary="Check the stored credentials against the carrier",
    )
    def post(self, request, workspace_id):
        info = services.provider_account_check(workspace=self.workspace)
        return Response(ProviderTestSerializer({"ok": True, "account": info}).data)


@extend_schema(tags=["numbers"])
class NumberListView(WorkspaceMemberMixin, generics.ListAPIView):
    model = PhoneNumber
    serializer_class = PhoneNumberSerializer

    def get_queryset(self):
        return selectors.workspace_numbers(workspace=self.workspace)

    @extend_schema(
        request=PhoneNumberInputSerializer,
        responses={201: PhoneNumberSerializer},
        summary="Add a number of the carrier account (points its webhooks here)",
    )
    @idempotent
    def post(self, request, workspace_id):
        data = _valid(PhoneNumberInputSerializer, request.data)
        number = services.number_add(workspace=self.workspace, **data)
        return Response(PhoneNumberSerializer(number).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["numbers"])
class NumberImportView(WorkspaceMemberMixin, APIView):
    @extend_schema(
        request=None,
        responses={201: NumbersImportSerializer},
        summary="Add every number of the carrier account not yet in the workspace",
    )
    @idempotent
    def post(self, request, workspace_id):
        result = services.numbers_import(workspace=self.workspace)
        answer = NumbersImportSerializer({"data": result.added, "skipped": result.skipped}).data
        return Response(answer, status=status.HTTP_201_CREATED)


@extend_schema(tags=["numbers"])
class NumberDetailView(WorkspaceMemberMixin, APIView):
    @extend_schema(responses=PhoneNumberSerializer, summary="One number")
    def get(self, request, workspace_id, number_id):
        number = selectors.access_number(workspace=self.workspace, number_id=number_id)
        return Response(PhoneNumberSerializer(number).data)

    @extend_schema(
        request=PhoneNumberUpdateSerializer,
        responses=PhoneNumberSerializer,
        summary="Rename a number, make it the default sender or set its send rate",
    )
    def patch(self, request, workspace_id, number_id):
        data = _valid(PhoneNumberUpdateSerializer, request.data)
        number = selectors.access_number(workspace=self.workspace, number_id=number_id)
        number = services.number_update(number=number, **data)
        return Response(PhoneNumberSerializer(number).data)

    @extend_schema(responses={204: None}, summary="Remove a number from the workspace")
    def delete(self, request, workspace_id, number_id):
        number = selectors.access_number(workspace=self.workspace, number_id=number_id)
        services.number_remove(number=number)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["integrator"])
class IntegratorNumberListView(IntegratorWorkspaceMixin, generics.ListAPIView):
    model = PhoneNumber
    serializer_class = PhoneNumberSerializer

    def get_queryset(self):
        return selectors.workspace_numbers(workspace=self.workspace)


@extend_schema(tags=["integrator"])
class IntegratorNumberDetailView(IntegratorWorkspaceMixin, APIView):
    @extend_schema(responses=PhoneNumberSerializer, summary="One of the workspace's numbers")
    def get(self, request, number_id):
        number = selectors.access_number(workspace=self.workspace, number_id=number_id)
        return Response(PhoneNumberSerializer(number).data)


@extend_schema(tags=["integrator"])
class IntegratorWorkspaceView(IntegratorWorkspaceMixin, APIView):
    @extend_schema(responses=IntegratorWorkspaceSerializer, summary="The API key's workspace")
    def get(self, request):
        default = selectors.default_sender(workspace=self.workspace)
        account = selectors.workspace_provider_account(workspace=self.workspace)
        return Response(
            IntegratorWorkspaceSerializer(
                {
                    "id": self.workspace.id,
                    "name": self.workspace.name,
                    "created_at": self.workspace.created_at,
                    "account_sid": self.workspace.account_sid,
                    "provider": ProviderAccountSerializer.answer(account),
                    "default_number": default.phone_number if default else None,
                    "rate_limit": settings.API_KEY_RATE_LIMIT,
                }
            ).data
        )


@extend_schema(tags=["carriers"])
class CarrierAccountListView(WorkspaceMemberMixin, generics.ListAPIView):
    model = ProviderAccount
    serializer_class = CarrierAccountSerializer

    def get_queryset(self):
        return selectors.workspace_carrier_accounts(workspace=self.workspace)

    @extend_schema(
        request=CarrierAccountInputSerializer,
        responses={201: CarrierAccountSerializer},
        summary="Add a carrier account (its credentials are checked first)",
    )
    @idempotent
    def post(self, request, workspace_id):
        data = _valid(CarrierAccountInputSerializer, request.data)
        account = services.carrier_account_add(workspace=self.workspace, **data)
        return Response(CarrierAccountSerializer(account).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["carriers"])
class CarrierAccountDetailView(WorkspaceMemberMixin, APIView):
    @extend_schema(responses=CarrierAccountSerializer, summary="One carrier account")
    def get(self, request, workspace_id, account_id):
        account = selectors.access_carrier_account(workspace=self.workspace, account_id=account_id)
        return Response(CarrierAccountSerializer(account).data)

    @extend_schema(
        request=CarrierAccountUpdateSerializer,
        responses=CarrierAccountSerializer,
        summary="Rename, disable, make primary or change the credentials",
    )
    def patch(self, request, workspace_id, account_id):
        data = dict(_valid(CarrierAccountUpdateSerializer, request.data))
        account = selectors.access_carrier_account(workspace=self.workspace, account_id=account_id)
        if "api_key" in data:
            data["auth_token"] = data.pop("api_key")
        account = services.carrier_account_update(account=account, **data)
        return Response(CarrierAccountSerializer(account).data)

    @extend_schema(responses={204: None}, summary="Remove a carrier account (not the primary)")
    def delete(self, request, workspace_id, account_id):
        account = selectors.access_carrier_account(workspace=self.workspace, account_id=account_id)
        services.carrier_account_remove(account=account)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["carriers"])
class CarrierAccountTestView(WorkspaceMemberMixin, APIView):
    @extend_schema(
        request=None,
        responses=ProviderTestSerializer,
        summary="Check an account's stored credentials against its carrier",
    )
    def post(self, request, workspace_id, account_id):
        account = selectors.access_carrier_account(workspace=self.workspace, account_id=account_id)
        info = services.carrier_account_check(account=account)
        return Response(ProviderTestSerializer({"ok": True, "account": info}).data)


@extend_schema(tags=["carriers"])
class CarrierRouteListView(WorkspaceMemberMixin, generics.ListAPIView):
    model = CarrierRoute
    serializer_class = CarrierRouteSerializer

    def get_queryset(self):
        return selectors.workspace_routes(workspace=self.workspace)

    @extend_schema(
        request=CarrierRouteInputSerializer,
        responses={201: CarrierRouteSerializer},
        summary="Add a routing rule by destination prefix",
    )
    @idempotent
    def post(self, request, workspace_id):
        data = _valid(CarrierRouteInputSerializer, request.data)
        route = services.carrier_route_set(workspace=self.workspace, fields_given=frozenset(data), **data)
        return Response(CarrierRouteSerializer(route).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["carriers"])
class CarrierRouteDetailView(WorkspaceMemberMixin, APIView):
    @extend_schema(responses=CarrierRouteSerializer, summary="One routing rule")
    def get(self, request, workspace_id, route_id):
        route = selectors.access_route(workspace=self.workspace, route_id=route_id)
        return Response(CarrierRouteSerializer(route).data)

    @extend_schema(
        request=CarrierRouteInputSerializer, responses=CarrierRouteSerializer, summary="Change a routing rule"
    )
    def patch(self, request, workspace_id, route_id):
        data = _valid(CarrierRouteInputSerializer, request.data)
        route = selectors.access_route(workspace=self.workspace, route_id=route_id)
        route = services.carrier_route_set(
            workspace=self.workspace, route=route, fields_given=frozenset(data), **data
        )
        return Response(CarrierRouteSerializer(route).data)

    @extend_schema(responses={204: None}, summary="Remove a routing rule")
    def delete(self, request, workspace_id, route_id):
        route = selectors.access_route(workspace=self.workspace, route_id=route_id)
        services.carrier_route_remove(route=route)
        return Response(status=status.HTTP_204_NO_CONTENT)
