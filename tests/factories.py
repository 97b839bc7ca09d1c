from datetime import date
from decimal import Decimal

import factory

from accounts.models import ConfidentialityAgreement, Role, Staff, Store
from members.models import ImportantDate, Member, Purchase


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.Sequence(lambda n: f"门店{n}")
    region = "华东"


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Staff
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    role = Role.CONSULTANT
    store = factory.SubFactory(StoreFactory)
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def signed(self, create, extracted, **kwargs):
        # Staff sign the confidentiality agreement unless a test says otherwise (signed=False).
        if create and extracted is not False:
            ConfidentialityAgreement.objects.create(staff=self, signed_on=date(2024, 1, 1))
        if create:
            self.save()


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    card_no = factory.Sequence(lambda n: f"V{n:07d}")
    name = factory.Sequence(lambda n: f"会员{n}")
    phone = factory.Sequence(lambda n: f"139{n:08d}")
    gender = "F"
    home_store = factory.SubFactory(StoreFactory)
    joined_on = date(2024, 1, 1)


class PurchaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Purchase

    member = factory.SubFactory(MemberFactory)
    store = factory.LazyAttribute(lambda o: o.member.home_store)
    receipt_no = factory.Sequence(lambda n: f"R{n:08d}")
    date = date(2024, 6, 1)
    amount = Decimal("1000.00")


class ImportantDateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImportantDate

    member = factory.SubFactory(MemberFactory)
    kind = "wedding_anniversary"
    date = date(2010, 10, 1)
