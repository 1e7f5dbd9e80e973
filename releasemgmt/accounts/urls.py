from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from releasemgmt.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            success_url=reverse_lazy("accounts:password-change-done")
        ),
        name="password-change",
    ),
    path(
        "password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password-change-done"
    ),
    path("", views.account, name="account"),
    path("tokens/<id:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("calendar-feed/", views.feed_token_issue, name="feed-token-issue"),
    path("calendar-feed/revoke/", views.feed_token_revoke, name="feed-token-revoke"),
]
