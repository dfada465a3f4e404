"""Create or update the seed's public PKCE client and remember its id for pkce_client."""

import argparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.idp import services


class Command(BaseCommand):
    help = "Create or update the seed's public client (code flow, PKCE) and print its id."

    def add_arguments(self, parser):
        parser.add_argument(
            "--client-id",
            help="Id to create or update (default: the one seeded before, else a new random id).",
        )
        parser.add_argument("--name", default=services.SEED_CLIENT_NAME)
        parser.add_argument("--redirect-uri", default=settings.RECEIVER_URL)
        parser.add_argument(
            "--alg",
            default="RS256",
            choices=services.ID_TOKEN_ALGORITHMS,
            help="ID token signing algorithm (default: %(default)s). ES256 signatures cost "
            "the IdP less CPU; HS256 is refused for a public client.",
        )

        parser.add_argument(
            "--post-logout-redirect-uri",
            action="append",
            dest="post_logout_redirect_uris",
            metavar="URI",
            help="Where RP-initiated logout may return the person (repeatable; absolute "
            "https, or http to a loopback IP literal). Not given: left as they are.",
        )
        parser.add_argument(
            "--require-dpop",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Refuse the client's token requests that carry no DPoP proof (RFC 9449), so "
            "all its tokens are bound to its key; --no-require-dpop allows them again. Not "
            "given: left as it is (off for a new client).",
        )

    def handle(
        self,
        *args,
        client_id,
        name,
        redirect_uri,
        alg,
        post_logout_redirect_uris,
        require_dpop,
        **options,
    ):
        id_file = settings.PKCE_CLIENT_ID_FILE
        remembered = id_file.read_text().strip() if id_file.exists() else ""
        client_id = client_id or remembered or services.new_client_id()
        try:
            oidc_client = services.seed_public_client(
                client_id,
                name=name,
                redirect_uri=redirect_uri,
                jwt_alg=alg,
                post_logout_redirect_uris=(
                    tuple(post_logout_redirect_uris) if post_logout_redirect_uris else None
                ),
                require_dpop=require_dpop,
            )
        except services.SeedError as exc:
            raise CommandError(f"Refusing to seed the client: {exc}") from exc
        services.ensure_signing_keys()  # RS256 and ES256 need one each; done once
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(oidc_client.client_id + "\n")
        self.stdout.write(
            self.style.SUCCESS(
                f"Public client {oidc_client.name!r} ready, {alg}, redirect {redirect_uri}"
            )
        )
        if services.requires_dpop(oidc_client):
            self.stdout.write("DPoP required: token requests without a proof are refused.")
        self.stdout.write(f"client_id: {oidc_client.client_id}")
