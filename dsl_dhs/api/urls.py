from rest_framework.routers import SimpleRouter

router = SimpleRouter()

app_name = "dsl_dhs-api"
urlpatterns = [*router.urls]
