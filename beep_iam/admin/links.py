"""beep_iam's links on beep_shared's admin pages: rows of this app that point at users,
organizations and teams. The lower app names none of these models; this one registers them,
in the order the pages show."""

from beep_shared.admin.organization import OrganizationAdmin, TeamAdmin
from beep_shared.admin.related import RelatedLink, register_related_links
from beep_shared.admin.user import UserAdmin

register_related_links(
    OrganizationAdmin, RelatedLink("Members", "beep_iam.Member", "organization"), before="Teams"
)
register_related_links(
    OrganizationAdmin,
    RelatedLink("Invitations", "beep_iam.Invitation", "organization"),
    RelatedLink("Subscriptions", "beep_iam.Subscription", "organization"),
    RelatedLink("Roles", "beep_iam.OrganizationRole", "organization"),
    RelatedLink("API keys", "beep_iam.ApiKey", "organization"),
    RelatedLink("SSO providers", "beep_iam.SsoProvider", "organization"),
    RelatedLink("SCIM providers", "beep_iam.ScimProvider", "organization"),
)
register_related_links(TeamAdmin, RelatedLink("Team members", "beep_iam.TeamMember", "team"))
register_related_links(
    UserAdmin,
    RelatedLink("Memberships", "beep_iam.Member", "user"),
    RelatedLink("Team memberships", "beep_iam.TeamMember", "user"),
    RelatedLink("Accounts", "beep_iam.Account", "user"),
    RelatedLink("Passkeys", "beep_iam.Passkey", "user"),
    RelatedLink("Two-factor", "beep_iam.TwoFactor", "user"),
    RelatedLink("API keys", "beep_iam.ApiKey", "user"),
    RelatedLink("OAuth clients", "beep_iam.OAuthClient", "user"),
    RelatedLink("Access tokens", "beep_iam.OAuthAccessToken", "user"),
    RelatedLink("Refresh tokens", "beep_iam.OAuthRefreshToken", "user"),
    RelatedLink("Consents", "beep_iam.OAuthConsent", "user"),
    before="Owned organizations",
)
register_related_links(
    UserAdmin,
    RelatedLink("Invitations sent", "beep_iam.Invitation", "inviter"),
    RelatedLink("Wallet addresses", "beep_iam.WalletAddress", "user"),
)
