app_name = "dsl_dhs"
urlpatterns = []
