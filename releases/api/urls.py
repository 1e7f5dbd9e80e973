from rest_framework.routers import SimpleRouter

router = SimpleRouter()

app_name = "releases-api"
urlpatterns = [*router.urls]
