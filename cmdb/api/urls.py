from rest_framework.routers import SimpleRouter

router = SimpleRouter()

app_name = "cmdb-api"
urlpatterns = [*router.urls]
