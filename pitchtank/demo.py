"""A realistic demo in Spanish: member companies, people, ventures, two events and a session."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pitchtank.accounts import services as accounts
from pitchtank.accounts.models import Role
from pitchtank.core.types import utcnow
from pitchtank.events import services as events
from pitchtank.events.models import SubmissionStatus
from pitchtank.extensions import db
from pitchtank.fund import services as fund_services
from pitchtank.judging import rubrics
from pitchtank.organizations.models import MembershipStatus, Organization
from pitchtank.ventures import services as ventures
from pitchtank.ventures.models import Sector, Stage

DEMO_PASSWORD = "demo-pitchtank"  # noqa: S105  # nosec B105 # published on purpose: demo data only

COMPANIES = [
    ("Bajío Software Factory", "Bajío Software Factory, S.A. de C.V.", "BSF150312AB1"),
    ("Integra TI León", "Integradora de Tecnologías de León, S.A. de C.V.", "ITL090521KZ3"),
    ("Nube Celaya", "Servicios en la Nube de Celaya, S. de R.L. de C.V.", "SNC180807QW5"),
    ("Automatiza Industrial", "Automatiza Industrial del Centro, S.A.P.I. de C.V.", "AIC120130MN7"),
    ("Datos Irapuato", "Analítica de Datos Irapuato, S.C.", "ADI200214HJ9"),
    ("Consultoría Digital Guanajuato", "Consultoría Digital de Guanajuato, S.A. de C.V.", "CDG110919RT2"),
]

VENTURES = [
    ("AgroSense", "Sensores de humedad y clima para productores de fresa del Bajío.", Sector.AGRO_INDUSTRY,
     Stage.EARLY_REVENUE, 2_500_000, "12.5"),
    ("PielTrack", "Trazabilidad de lotes de piel para curtidurías de León.", Sector.FASHION_TEXTILES_FOOTWEAR,
     Stage.MVP, 1_800_000, "10"),
    ("AutoParte360", "Inspección visual con IA para proveedores de autopartes Tier 2.", Sector.AUTOMOTIVE,
     Stage.EARLY_REVENUE, 6_000_000, "15"),
    ("AeroMRO Digital", "Bitácoras de mantenimiento aeronáutico sin papel.", Sector.AEROSPACE,
     Stage.PROTOTYPE, 4_000_000, "18"),
    ("ClinicaYa", "Agenda y expediente clínico para consultorios de Guanajuato.", Sector.HEALTH,
     Stage.GROWTH, 8_000_000, "8"),
    ("RutaBajío", "Optimización de rutas de última milla para distribuidores regionales.", Sector.LOGISTICS,
     Stage.EARLY_REVENUE, 3_500_000, "12"),
    ("QuimiSafe", "Control de inventario de sustancias químicas con alertas de norma.", Sector.CHEMICALS,
     Stage.MVP, 2_000_000, "14"),
    ("ConcretoListo", "Pedidos de concreto premezclado con seguimiento en tiempo real.",
     Sector.CONSTRUCTION_MATERIALS, Stage.PROTOTYPE, 1_500_000, "20"),
    ("FacturaPyME", "Facturación electrónica y cobranza para pequeños negocios.", Sector.IT_SOFTWARE,
     Stage.GROWTH, 5_000_000, "7.5"),
    ("TalentoTI", "Bolsa de trabajo y evaluación técnica para el clúster de TI.", Sector.IT_SOFTWARE,
     Stage.MVP, 1_200_000, "10"),
    ("TurismoGto", "Experiencias turísticas en ciudades patrimonio con reservas en línea.", Sector.OTHER,
     Stage.EARLY_REVENUE, 2_200_000, "11"),
    ("MediRefri", "Monitoreo de la cadena de frío para vacunas y medicamentos.", Sector.HEALTH,
     Stage.PROTOTYPE, 3_000_000, "16"),
]

ENTREPRENEURS = [
    ("Mariana López", "mariana@demo.pitchtank.mx"), ("Jorge Hernández", "jorge@demo.pitchtank.mx"),
    ("Fernanda Ruiz", "fernanda@demo.pitchtank.mx"), ("Luis Ramírez", "luis@demo.pitchtank.mx"),
    ("Daniela Torres", "daniela@demo.pitchtank.mx"), ("Ricardo Mendoza", "ricardo@demo.pitchtank.mx"),
]
JUDGES = [
    ("Ana Sofía Castillo", "jurado1@demo.pitchtank.mx"), ("Roberto Aguilar", "jurado2@demo.pitchtank.mx"),
    ("Patricia Navarro", "jurado3@demo.pitchtank.mx"), ("Héctor Salinas", "jurado4@demo.pitchtank.mx"),
    ("Gabriela Ortiz", "jurado5@demo.pitchtank.mx"),
]


ORGANIZER_EMAIL = "organizador@demo.pitchtank.mx"
DEMO_LOGINS = [
    ("organizador", ORGANIZER_EMAIL),
    *(("jurado", email) for _name, email in JUDGES),
    *(("inversionista", f"inversionista{n}@demo.pitchtank.mx") for n in (1, 2, 3)),
    ("emprendedor", ENTREPRENEURS[0][1]),
]


def seed() -> list[tuple[str, str]]:
    """Create the demo; the caller commits. Returns (role, email) of the demo logins."""
    now = utcnow()
    companies = []
    for name, legal_name, rfc in COMPANIES:
        company = Organization(name=name, legal_name=legal_name, rfc=rfc, membership_status=MembershipStatus.ACTIVE)
        db.session.add(company)
        companies.append(company)
    db.session.flush()

    organizer = accounts.register_user(email=ORGANIZER_EMAIL, name="Laura Méndez (Clúster TI)",
                                       password=DEMO_PASSWORD, roles=[Role.ORGANIZER],
                                       email_verified=True)
    judges = []
    for index, (name, email) in enumerate(JUDGES):
        judge = accounts.register_user(email=email, name=name, password=DEMO_PASSWORD, roles=[Role.JUDGE],
                                       organization=companies[index % len(companies)], email_verified=True)
        judges.append(judge)
    investors = []
    for index, company in enumerate(companies[:3]):
        email = f"inversionista{index + 1}@demo.pitchtank.mx"
        investors.append(accounts.register_user(
            email=email, name=f"Inversionista de {company.name}", password=DEMO_PASSWORD,
            roles=[Role.INVESTOR], organization=company, email_verified=True))
    founders = [
        accounts.register_user(email=email, name=name, password=DEMO_PASSWORD, roles=[Role.ENTREPRENEUR],
                               email_verified=True)
        for name, email in ENTREPRENEURS
    ]

    demo_ventures = []
    for index, (name, tagline, sector, stage, ask_pesos, equity) in enumerate(VENTURES):
        demo_ventures.append(ventures.create_venture(founders[index % len(founders)], ventures.VentureData(
            name=name, tagline=tagline, sector=sector, stage=stage,
            description=f"{name}: {tagline} Equipo con experiencia en el sector y clientes piloto en Guanajuato.",
            problem="Procesos manuales, costosos y sin datos confiables.",
            solution=tagline,
            market="Pequeñas y medianas empresas del Bajío, con expansión al centro del país.",
            traction="Clientes piloto y cartas de intención firmadas.",
            team="Fundadores con más de diez años de experiencia en la industria.",
            website=f"https://{name.lower().replace(' ', '')}.example.mx",
            ask_cents=ask_pesos * 100, equity_offered_pct=Decimal(equity),
        )))

    pitch_day = events.create_event(organizer, events.EventData(
        name="Pitch Day Clúster TI Guanajuato",
        venue="Poliforum León, Salón Bajío",
        description="Emprendedores presentan sus proyectos ante empresarios del clúster, que califican en vivo.",
        starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1),
        submissions_open_at=now - timedelta(days=30), submissions_close_at=now - timedelta(days=2),
    ))
    # Applications arrived while the window was open.
    for venture in demo_ventures[:10]:
        submission = events.apply(venture, pitch_day, venture.owner, now=now - timedelta(days=10))
        events.decide(submission, accept=True, note="¡Felicidades! Nos vemos en el escenario.", actor=organizer)
    rejected = events.apply(demo_ventures[10], pitch_day, demo_ventures[10].owner, now=now - timedelta(days=9))
    events.decide(rejected, accept=False, note="Gracias por participar; te esperamos en la próxima convocatoria.",
                  actor=organizer)
    session = events.create_session(pitch_day, events.SessionData(
        title="Sesión principal de pitches", starts_at=now + timedelta(minutes=30), pitch_minutes=5, qa_minutes=3,
    ))
    accepted = [s.id for s in pitch_day.submissions if s.status == SubmissionStatus.ACCEPTED]
    events.set_running_order(session, accepted)
    events.set_judges(session, [j.id for j in judges])
    rubrics.set_rubric(session, rubrics.default_rubric())

    hackathon = events.create_event(organizer, events.EventData(
        name="Hackatón y Demo Day Bajío 2027",
        venue="Universidad de Guanajuato, Campus León",
        description="Convocatoria abierta para proyectos de base tecnológica.",
        starts_at=now + timedelta(days=60), ends_at=now + timedelta(days=61),
        submissions_open_at=now - timedelta(days=1), submissions_close_at=now + timedelta(days=45),
    ))
    events.apply(demo_ventures[11], hackathon, demo_ventures[11].owner, now=now)

    fund = fund_services.create_fund(organizer, fund_services.FundData(
        name="Fondo de Capital Clúster TI 2027", target_cents=50_000_000_00, min_pledge_cents=250_000_00,
        commitment_deadline=(now + timedelta(days=90)).date(), clabe="002010077777777771", cooling_off_days=14,
    ))
    for investor, pesos in zip(investors, (5_000_000, 3_000_000, 2_000_000), strict=True):
        fund_services.pledge(fund.id, investor, pesos * 100)
    call = fund_services.issue_capital_call(fund.id, organizer, percent=Decimal("20"),
                                            due_date=(now + timedelta(days=30)).date())
    first_line = call.lines[0]
    fund_services.record_transfer(first_line.id, organizer, amount_cents=first_line.amount_cents,
                                  paid_on=now.date(), reference=first_line.reference)
    db.session.flush()
    return DEMO_LOGINS
