"""Write the held-out identity set: people, places and cats as another TNR organisation's
volunteers and clinic staff type them, with the truth of who is who (docs/identity.md,
"The held-out set").

    python tests/corpus/heldout/make_heldout.py     # rewrites the three CSVs beside it

Written by hand for this purpose and independent of synthetic/ (no code or vocabulary of the
generator is used): a fictional organisation, "Redwood Coast Community Cats", in Mendocino and
Lake counties, with a clinic check-in sheet (`clinic.csv`: first and last name in two columns,
the address over three, one cat a row) and a volunteers' trapping-request form (`requests.csv`:
the name and the address in one cell each, no cat). Every phone is in the 555 exchange outside
555-0100..0199, every email domain is invented or a free-mail domain with an invented
mailbox: no real person's data. The trap classes (the `CLASSES` below, each record tagged with
its class in truth.csv) are those of docs/research/atlas-data.md ("Known data-quality traps")
and the identity and address research; the ordinary people around them are drawn with a
seeded generator from name pools written here.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20250314

CLINIC_HEADER = ["Check-in #", "Date", "First", "Last", "Email", "Phone", "Alt Phone",
                 "Address", "City", "ZIP", "Cat Name", "Microchip"]
REQUEST_HEADER = ["Timestamp", "Your name", "Email", "Phone number",
                  "Where are the cats? (address)", "How many cats?"]
TRUTH_HEADER = ["source_table", "source_row_id", "person", "place", "cat", "class"]


@dataclass
class Rec:
    """One row as typed. `person` is the true person (or ``org:…`` / ``none:…`` for a row that
    names no person), `place` the true place (blank: no address), `cat` the true cat."""
    source: str                 # 'clinic' | 'request'
    person: str
    cls: str
    first: str = ""
    last: str = ""
    full: str = ""              # the request form's one name cell
    email: str = ""
    phone: str = ""
    alt: str = ""
    street: str = ""            # clinic: the Address column; request: the whole address cell
    city: str = ""
    zip: str = ""
    place: str = ""
    cat: str = ""
    cat_name: str = ""
    chip: str = ""
    extra: dict[str, str] = field(default_factory=dict)


R: list[Rec] = []


def clinic(person: str, cls: str, first: str, last: str, email: str = "", phone: str = "",
           alt: str = "", street: str = "", city: str = "", zip_: str = "", place: str = "",
           cat: str = "", cat_name: str = "", chip: str = "") -> None:
    R.append(Rec("clinic", person, cls, first=first, last=last, email=email, phone=phone,
                 alt=alt, street=street, city=city, zip=zip_, place=place, cat=cat,
                 cat_name=cat_name, chip=chip))


def request(person: str, cls: str, full: str, email: str = "", phone: str = "",
            address: str = "", place: str = "") -> None:
    R.append(Rec("request", person, cls, full=full, email=email, phone=phone, street=address,
                 place=place))


# --- the trap classes, written out ------------------------------------------------------------

def same_person_classes() -> None:
    """Records of one person typed differently: each pair must end as one person."""
    # nicknames with the same email or phone
    clinic("p-hanley", "nickname+email", "Robert", "Hanley", "rhanley.ukiah@gmail.com",
           "707-555-2101", street="418 Clara Ave", city="Ukiah", zip_="95482", place="pl-clara418",
           cat="c-001", cat_name="Smokey", chip="985112003456701")
    request("p-hanley", "nickname+email", "Bob Hanley", "RHanley.Ukiah@Gmail.com",
            address="418 Clara Avenue, Ukiah CA 95482", place="pl-clara418")
    clinic("p-carrow", "nickname+phone", "Elizabeth", "Carrow", phone="707.555.2102",
           street="1190 S Dora St", city="Ukiah", zip_="95482", place="pl-dora1190",
           cat="c-002", cat_name="Mittens", chip="985112003456702")
    clinic("p-carrow", "nickname+phone", "Liz", "Carrow", phone="7075552102",
           street="1190 South Dora Street", city="Ukiah", place="pl-dora1190",
           cat="c-003", cat_name="Boots", chip="985112003456703")
    request("p-carrow", "nickname+phone", "Beth Carrow", phone="(707) 555-2102",
            address="1190 S. Dora St., Ukiah", place="pl-dora1190")
    clinic("p-marquez", "nickname+phone", "Francisco", "Marquez", phone="707-555-2103",
           street="77 Low Gap Rd", city="Ukiah", zip_="95482", place="pl-lowgap77",
           cat="c-004", cat_name="Tigre", chip="985112003456704")
    clinic("p-marquez", "nickname+phone", "Paco", "Marquez", phone="707 555 2103",
           street="77 Low Gap Road", city="Ukiah", zip_="95482", place="pl-lowgap77",
           cat="c-005", cat_name="Negrita", chip="985112003456705")
    clinic("p-osei", "nickname+phone", "Dave", "Osei", phone="707-555-2104", alt="",
           street="2301 N State St", city="Ukiah", zip_="95482", place="pl-nstate2301",
           cat="c-006", cat_name="Pumpkin", chip="985112003456706")
    request("p-osei", "nickname+phone", "David Osei", phone="707-555-2104",
            address="2301 North State Street, Ukiah, CA 95482", place="pl-nstate2301")
    clinic("p-ferris", "nickname+email", "Margaret", "Ferris", "peggy.ferris@yahoo.com",
           street="55 Laurel Ave", city="Willits", zip_="95490", place="pl-laurel55",
           cat="c-007", cat_name="Ginger", chip="985112003456707")
    request("p-ferris", "nickname+email", "Peggy Ferris", "peggy.ferris@yahoo.com",
            "707-555-2105", "55 Laurel Ave, Willits", "pl-laurel55")
    clinic("p-ferris", "nickname+email", "Maggie", "Ferris", "Peggy.Ferris@Yahoo.com",
           "(707) 555-2105", street="55 Laurel Avenue", city="Willits", place="pl-laurel55",
           cat="c-008", cat_name="Socks", chip="985112003456708")

    # email: case, Gmail's dots and +tags, common domain typos
    clinic("p-whitfield", "gmail-dots", "Karen", "Whitfield", "k.whitfield@gmail.com",
           street="310 Walnut St", city="Willits", zip_="95490", place="pl-walnut310",
           cat="c-009", cat_name="Oreo", chip="985112003456709")
    request("p-whitfield", "gmail-dots", "Karen Whitfield", "kwhitfield@gmail.com",
            address="310 Walnut Street, Willits CA", place="pl-walnut310")
    clinic("p-oreilly", "gmail-plus", "Dana", "O'Reilly", "dana.oreilly+cats@gmail.com",
           street="9 Perkins St", city="Ukiah", zip_="95482", place="pl-perkins9",
           cat="c-010", cat_name="Shadow", chip="985112003456710")
    request("p-oreilly", "gmail-plus", "Dana OReilly", "Dana.OReilly@gmail.com",
            address="9 Perkins St Ukiah CA 95482", place="pl-perkins9")
    clinic("p-oreilly", "gmail-plus", "Dana", "O'Reilly", "danaoreilly+tnr@googlemail.com",
           street="9 Perkins Street", city="Ukiah", place="pl-perkins9",
           cat="c-011", cat_name="Luna", chip="985112003456711")
    clinic("p-bell", "email-case", "Marcus", "Bell", "MARCUS.BELL@YAHOO.COM",
           street="640 Main St", city="Lakeport", zip_="95453", place="pl-lkpmain640",
           cat="c-012", cat_name="Tux", chip="985112003456712")
    request("p-bell", "email-case", "Marcus Bell", " marcus.bell@yahoo.com ",
            address="640 Main Street, Lakeport, CA 95453", place="pl-lkpmain640")
    typos = [("p-greene", "Tamara", "Greene", "tgreene.cats@gmail.com", "tgreene.cats@gmial.com"),
             ("p-navarro", "Pilar", "Navarro", "pnavarro61@yahoo.com", "pnavarro61@yahoo.con"),
             ("p-lowe", "Lydia", "Lowe", "lydialowe@hotmail.com", "lydialowe@hotmial.com"),
             ("p-kaur", "Simran", "Kaur", "simkaur@gmail.com", "simkaur@gmail.co"),
             ("p-duarte", "Hector", "Duarte", "hduarte@comcast.net", "hduarte@comcast.ner"),
             ("p-pruitt", "Gail", "Pruitt", "gailpruitt@sbcglobal.net", "gailpruitt@sbcgloabl.net"),
             ("p-yoon", "Grace", "Yoon", "grace.yoon@icloud.com", "grace.yoon@icloud.con"),
             ("p-abbott", "Wes", "Abbott", "wabbott@aol.com", "wabbott@aol.co"),
             ("p-rios", "Nayeli", "Rios", "nayelirios@outlook.com", "nayelirios@outlok.com"),
             ("p-holt", "Brenda", "Holt", "bholt22@yahoo.com", "bholt22@yaho.com"),
             ("p-sato", "Ken", "Sato", "ken.sato@gmail.com", "ken.sato@gnail.com"),
             ("p-mercer", "Colleen", "Mercer", "cmercer@hotmail.com", "cmercer@hotmal.com")]
    for i, (pid, first, last, good, typo) in enumerate(typos):
        place = f"pl-typo{i}"
        street = f"{120 + 7 * i} {['Oak', 'Pine', 'Cedar', 'Elm'][i % 4]} St"
        clinic(pid, "email-domain-typo", first, last, good, street=street, city="Ukiah",
               zip_="95482", place=place, cat=f"c-t{i}", cat_name="Kitty",
               chip=f"98511200345{6800 + i}")
        request(pid, "email-domain-typo", f"{first} {last}", typo,
                address=f"{street}, Ukiah CA", place=place)

    # phones as people write them
    clinic("p-lindqvist", "phone-formats", "Ingrid", "Lindqvist", phone="+1 (707) 555-2107",
           street="15 Observatory Ave", city="Ukiah", zip_="95482", place="pl-obs15",
           cat="c-013", cat_name="Pepper", chip="985112003456713")
    clinic("p-lindqvist", "phone-formats", "Ingrid", "Lindqvist", phone="707.555.2107 x12",
           street="15 Observatory Avenue", city="Ukiah", place="pl-obs15",
           cat="c-014", cat_name="Salt", chip="985112003456714")
    request("p-lindqvist", "phone-formats", "Ingrid Lindqvist", phone="cell: 707-555-2107",
            address="15 Observatory Ave., Ukiah", place="pl-obs15")
    clinic("p-lindqvist", "phone-formats", "Ingrid", "Lindqvist", alt="7075552107",
           street="15 Observatory Ave", city="Ukiah", zip_="95482", place="pl-obs15",
           cat="c-013", cat_name="Pepper", chip="985 112 003 456 713")
    clinic("p-begay", "phone-formats", "Lorraine", "Begay", phone="Cell (707)555-2108",
           street="2 Gobbi St", city="Ukiah", zip_="95482", place="pl-gobbi2",
           cat="c-015", cat_name="Bear", chip="985112003456715")
    request("p-begay", "phone-formats", "Lorraine Begay", phone="h: 707 555 2108",
            address="2 Gobbi Street, Ukiah CA 95482", place="pl-gobbi2")
    clinic("p-begay", "phone-formats", "Lorraine", "Begay", phone="707-555-2108 ext. 4",
           street="2 Gobbi St.", city="Ukiah", place="pl-gobbi2",
           cat="c-016", cat_name="Cub", chip="985-112-003-456-716")

    # first and last swapped, "Last, First" in one cell, first name alone, middle initials
    clinic("p-nguyen-t", "swapped-names", "Nguyen", "Thanh", phone="707-555-2110",
           street="880 Bush St", city="Ukiah", zip_="95482", place="pl-bush880",
           cat="c-017", cat_name="Mochi", chip="985112003456717")
    request("p-nguyen-t", "swapped-names", "Thanh Nguyen", phone="707-555-2110",
            address="880 Bush St, Ukiah", place="pl-bush880")
    request("p-nguyen-t", "swapped-names", "NGUYEN, THANH", "thanh.nguyen.ukiah@gmail.com",
            "7075552110", "880 Bush Street Ukiah CA 95482", "pl-bush880")
    clinic("p-delgado", "last-first-one-cell", "Maria", "Delgado-Ruiz", "mdelgadoruiz@gmail.com",
           street="1401 Talmage Rd", city="Ukiah", zip_="95482", place="pl-talmage1401",
           cat="c-018", cat_name="Canela", chip="985112003456718")
    request("p-delgado", "last-first-one-cell", "Delgado, Maria", "mdelgadoruiz@gmail.com",
            address="1401 Talmage Road, Ukiah, CA 95482", place="pl-talmage1401")
    clinic("p-olsen", "middle-initial", "Mary K.", "Olsen", phone="707-555-2111",
           street="33 Spruce St", city="Willits", zip_="95490", place="pl-spruce33",
           cat="c-019", cat_name="Fluffy", chip="985112003456719")
    clinic("p-olsen", "middle-initial", "Mary", "Olsen", phone="707-555-2111",
           street="33 Spruce Street", city="Willits", zip_="95490", place="pl-spruce33",
           cat="c-020", cat_name="Biscuit", chip="985112003456720")
    request("p-cheryl", "first-name-only", "Cheryl", "cheryl.vance.tnr@gmail.com",
            address="71 Mill Creek Dr, Willits", place="pl-millcreek71")
    clinic("p-cheryl", "first-name-only", "Cheryl", "Vance", "cheryl.vance.tnr@gmail.com",
           street="71 Mill Creek Drive", city="Willits", zip_="95490", place="pl-millcreek71",
           cat="c-021", cat_name="Dusty", chip="985112003456721")
    clinic("p-jordan", "first-name-typo", "Jodran", "Pike", phone="707-555-2112",
           street="400 Cypress Ave", city="Lakeport", zip_="95453", place="pl-cypress400",
           cat="c-022", cat_name="Milo", chip="985112003456722")
    clinic("p-jordan", "first-name-typo", "Jordan", "Pike", phone="707-555-2112",
           street="400 Cypress Avenue", city="Lakeport", place="pl-cypress400",
           cat="c-023", cat_name="Otis", chip="985112003456723")

    # a maiden name, then the married name, with the same phone (and later email)
    clinic("p-alvarez", "surname-change", "Jennifer", "Alvarez", "jen.alvarez77@yahoo.com",
           "707-555-2109", street="25 Hospital Dr", city="Ukiah", zip_="95482",
           place="pl-hospdr25", cat="c-024", cat_name="Lucky", chip="985112003456724")
    clinic("p-alvarez", "surname-change", "Jennifer", "Whitlock", phone="707-555-2109",
           street="1820 Parducci Rd", city="Ukiah", zip_="95482", place="pl-parducci1820",
           cat="c-025", cat_name="Ziggy", chip="985112003456725")
    request("p-alvarez", "surname-change", "Jennifer Alvarez-Whitlock",
            "jen.alvarez77@yahoo.com", "707-555-2109", "1820 Parducci Road, Ukiah",
            "pl-parducci1820")
    clinic("p-sorensen", "surname-change", "Heidi", "Sorensen", phone="707-555-2113",
           street="5 Orr Springs Rd", city="Ukiah", zip_="95482", place="pl-orr5",
           cat="c-026", cat_name="Kiwi", chip="985112003456726")
    clinic("p-sorensen", "surname-change", "Heidi", "Blackwood", phone="707-555-2113",
           street="5 Orr Springs Road", city="Ukiah", zip_="95482", place="pl-orr5",
           cat="c-027", cat_name="Mango", chip="985112003456727")

    # accents typed with and without
    clinic("p-ramirez", "accents", "José", "Ramírez", phone="707-555-2114",
           street="61 Luce Ave", city="Ukiah", zip_="95482", place="pl-luce61",
           cat="c-028", cat_name="Chato", chip="985112003456728")
    clinic("p-ramirez", "accents", "Jose", "Ramirez", phone="707 555-2114",
           street="61 Luce Avenue", city="Ukiah", place="pl-luce61",
           cat="c-029", cat_name="Chispa", chip="985112003456729")
    request("p-nunez", "accents", "Zoë Núñez", "zoe.nunez@outlook.com",
            address="902 Empire Dr, Ukiah", place="pl-empire902")
    clinic("p-nunez", "accents", "Zoe", "Nunez", "ZOE.NUNEZ@OUTLOOK.COM", "707-555-2115",
           street="902 Empire Drive", city="Ukiah", zip_="95482", place="pl-empire902",
           cat="c-030", cat_name="Nieve", chip="985112003456730")
    clinic("p-bjork", "accents", "Søren", "Bjørk", "soren.bjork@gmail.com",
           street="14 Mendocino Ave", city="Willits", zip_="95490", place="pl-mendoave14",
           cat="c-031", cat_name="Viking", chip="985112003456731")
    request("p-bjork", "accents", "Soren Bjork", "soren.bjork@gmail.com",
            address="14 Mendocino Avenue, Willits", place="pl-mendoave14")


def different_people_classes() -> None:
    """People who share an address, a phone or an email, or a name, and are not one."""
    # father and son, Sr. and Jr., one address, one landline
    land = "707-555-2201"
    clinic("p-miller-sr", "jr-sr", "Robert", "Miller Sr.", phone=land,
           street="3100 Eastside Rd", city="Ukiah", zip_="95482", place="pl-eastside3100",
           cat="c-040", cat_name="Duke", chip="985112003456740")
    clinic("p-miller-jr", "jr-sr", "Robert", "Miller Jr.", phone=land, alt="707-555-2202",
           street="3100 Eastside Rd", city="Ukiah", zip_="95482", place="pl-eastside3100",
           cat="c-041", cat_name="Bandit", chip="985112003456741")
    request("p-miller-sr", "jr-sr", "Robert Miller Sr", "rmiller.sr@att.net", land,
            "3100 Eastside Road, Ukiah CA 95482", "pl-eastside3100")
    clinic("p-miller-jr", "jr-sr", "Rob", "Miller Jr", phone="707-555-2202",
           street="3100 Eastside Road", city="Ukiah", place="pl-eastside3100",
           cat="c-042", cat_name="Rocky", chip="985112003456742")
    clinic("p-miller-sr", "jr-sr", "Robert", "Miller, Sr.", "rmiller.sr@att.net", land,
           street="3100 Eastside Rd.", city="Ukiah", zip_="95482", place="pl-eastside3100",
           cat="c-040", cat_name="Duke", chip="985112003456740")

    # spouses sharing a household email and landline (each with a cell of their own)
    fam = "thebeckers@comcast.net"
    clinic("p-becker-tom", "household-email", "Tom", "Becker", fam, "707-555-2210",
           street="12 Redwood Ave", city="Willits", zip_="95490", place="pl-redwood12",
           cat="c-043", cat_name="Cleo", chip="985112003456743")
    clinic("p-becker-linda", "household-email", "Linda", "Becker", fam, "707-555-2210",
           alt="707-555-2212", street="12 Redwood Ave", city="Willits", zip_="95490",
           place="pl-redwood12", cat="c-044", cat_name="Jasper", chip="985112003456744")
    request("p-becker-tom", "household-email", "Thomas Becker", fam, "707-555-2211",
            "12 Redwood Avenue, Willits CA", "pl-redwood12")
    request("p-becker-linda", "household-email", "Linda Becker", "", "707-555-2212",
            "12 Redwood Ave Willits", "pl-redwood12")
    clinic("p-becker-tom", "household-email", "T.", "Becker", fam,
           street="12 Redwood Ave", city="Willits", place="pl-redwood12",
           cat="c-045", cat_name="Pip", chip="985112003456745")
    # spouses who share one cell phone and nothing else
    clinic("p-chen-wei", "household-phone", "Wei", "Chen", phone="707-555-2220",
           street="207 Brush St", city="Ukiah", zip_="95482", place="pl-brush207",
           cat="c-046", cat_name="Bao", chip="985112003456746")
    clinic("p-chen-lin", "household-phone", "Lin", "Chen", phone="707-555-2220",
           street="207 Brush Street", city="Ukiah", zip_="95482", place="pl-brush207",
           cat="c-047", cat_name="Dumpling", chip="985112003456747")
    request("p-chen-wei", "household-phone", "Wei Chen", "weichen.ukiah@gmail.com",
            "707-555-2220", "207 Brush St, Ukiah", "pl-brush207")

    # twins: the parents' landline and address, each their own email
    land = "707-555-2230"
    clinic("p-tran-kevin", "twins", "Kevin", "Tran", "kevtran.04@gmail.com", land,
           street="58 Kings Ct", city="Ukiah", zip_="95482", place="pl-kings58",
           cat="c-048", cat_name="Ninja", chip="985112003456748")
    clinic("p-tran-kyle", "twins", "Kyle", "Tran", "kyletran04@gmail.com", land,
           street="58 Kings Court", city="Ukiah", zip_="95482", place="pl-kings58",
           cat="c-049", cat_name="Samurai", chip="985112003456749")
    request("p-tran-kyle", "twins", "Kyle Tran", phone=land, address="58 Kings Ct, Ukiah",
            place="pl-kings58")
    request("p-tran-kevin", "twins", "Kevin Tran", "kevtran.04@gmail.com",
            address="58 Kings Ct, Ukiah", place="pl-kings58")
    # twin sisters whose names are one letter apart
    clinic("p-ayala-ana", "twins", "Ana", "Ayala", phone="707-555-2232",
           street="19 Ford St", city="Ukiah", zip_="95482", place="pl-ford19",
           cat="c-050", cat_name="Perla", chip="985112003456750")
    clinic("p-ayala-ava", "twins", "Ava", "Ayala", phone="707-555-2232",
           street="19 Ford St", city="Ukiah", zip_="95482", place="pl-ford19",
           cat="c-051", cat_name="Rubi", chip="985112003456751")

    # a trapper who gives each colony's address, not her own; the colony's resident
    colonies = [("pl-col1", "4470 Hwy 20", "Willits", "95490"),
                ("pl-col2", "1500 Lake Mendocino Dr", "Ukiah", "95482"),
                ("pl-col3", "290 Commerce Dr", "Ukiah", "95482"),
                ("pl-col4", "8100 East Rd", "Redwood Valley", "95470")]
    for i, (pl, street, city, zip_) in enumerate(colonies):
        clinic("p-patterson", "trapper-colony-address", "Susan" if i % 2 == 0 else "Sue",
               "Patterson", "sue.traps@gmail.com" if i != 2 else "", "707-555-2240",
               street=street, city=city, zip_=zip_, place=pl, cat=f"c-col{i}",
               cat_name="Feral", chip=f"9851120034569{10 + i}")
    request("p-patterson", "trapper-colony-address", "Sue Patterson", "", "(707) 555-2240",
            "1500 Lake Mendocino Drive, Ukiah CA 95482", "pl-col2")
    clinic("p-ortiz", "trapper-colony-address", "Frank", "Ortiz", phone="707-555-2241",
           street="1500 Lake Mendocino Dr", city="Ukiah", zip_="95482", place="pl-col2",
           cat="c-col9", cat_name="Gordo", chip="985112003456919")

    # a clinic that enters its own phone for walk-ins (and "WALK IN" for a name)
    clinic_phone = "707-555-2300"
    walk = [("p-garcia-m1", "Maria", "Garcia", "16 Jones St", "pl-jones16"),
            ("p-garcia-m2", "Maria", "Garcia", "740 Waugh Ln", "pl-waugh740"),
            ("p-pike-d", "Dolores", "Pike", "33 Stipp Ln", "pl-stipp33"),
            ("p-pike-d", "Dolores", "Pike", "33 Stipp Lane", "pl-stipp33"),
            ("p-walk-1", "Terrence", "Moody", "8 Cherry St", "pl-cherry8"),
            ("p-walk-2", "Ronnie", "Castle", "51 Hope St", "pl-hope51"),
            ("p-walk-3", "Elena", "Petrova", "300 Marshall St", "pl-marshall300")]
    for i, (pid, first, last, street, pl) in enumerate(walk):
        clinic(pid, "clinic-phone-for-walk-ins", first, last, phone=clinic_phone,
               street=street, city="Ukiah", zip_="95482", place=pl, cat=f"c-w{i}",
               cat_name="", chip=f"9851120034570{10 + i}")
    for i in range(3):
        clinic(f"none:walkin-{i}", "placeholder-name", ["WALK IN", "Walk-in", "walk in client"][i],
               "", phone=clinic_phone, street=f"{200 + i} Leslie St", city="Ukiah",
               zip_="95482", place=f"pl-leslie{200 + i}", cat=f"c-wi{i}",
               chip=f"9851120034570{30 + i}")

    # a shelter's email used for many adopters (each with a phone of their own)
    shelter = "adoptions@lakeshorehumane.org"
    adopters = [("p-adopt-1", "Carla", "Benton", "707-555-2401"),
                ("p-adopt-2", "Dwayne", "Hicks", "707-555-2402"),
                ("p-adopt-3", "Priya", "Raman", "707-555-2403"),
                ("p-adopt-4", "Gus", "Wendt", "707-555-2404"),
                ("p-adopt-5", "Maria", "Garcia", "707-555-2405")]
    for i, (pid, first, last, ph) in enumerate(adopters):
        clinic(pid, "shelter-email", first, last, shelter, ph,
               street=f"{10 + i} Lakeshore Blvd", city="Lakeport", zip_="95453",
               place=f"pl-lakeshore{10 + i}", cat=f"c-ad{i}", cat_name="Adoptee",
               chip=f"9851120034571{10 + i}")
    clinic("p-adopt-3", "shelter-email", "Priya", "Raman", "priya.raman@gmail.com",
           "707-555-2403", street="12 Lakeshore Blv", city="Lakeport", place="pl-lakeshore12",
           cat="c-ad2", cat_name="Adoptee", chip="985112003457112")
    # an adopter with no phone of her own: the shelter's email and a name alone
    clinic("p-adopt-6", "shelter-email", "Maria", "Garcia", shelter,
           street="95 Bevins St", city="Lakeport", zip_="95453", place="pl-bevins95",
           cat="c-ad6", cat_name="Adoptee", chip="985112003457116")

    # one common name in one town, different phones
    for i, ph in enumerate(["707-555-2501", "707-555-2502", "707-555-2503"]):
        clinic(f"p-garcia-town{i}", "common-name", "Maria", "Garcia", phone=ph,
               street=f"{500 + 10 * i} Clay St", city="Ukiah", zip_="95482",
               place=f"pl-clay{500 + 10 * i}", cat=f"c-g{i}", cat_name="Gato",
               chip=f"9851120034572{10 + i}")
    clinic("p-smith-j1", "common-name", "John", "Smith", "jsmith.ukiah@gmail.com",
           street="1 Oak Knoll Rd", city="Ukiah", zip_="95482", place="pl-oakknoll1",
           cat="c-s1", cat_name="Max", chip="985112003457221")
    clinic("p-smith-j2", "common-name", "John", "Smith", "johnsmith1958@yahoo.com",
           street="77 Deerwood Dr", city="Ukiah", zip_="95482", place="pl-deerwood77",
           cat="c-s2", cat_name="Max", chip="985112003457222")

    # tenants who give the building manager's office phone
    for i, (first, last) in enumerate([("Rosa", "Lema"), ("Dale", "Fisk"), ("Amir", "Haddad"),
                                       ("Joy", "Kimura")]):
        clinic(f"p-tenant{i}", "building-phone", first, last, phone="707-555-2600",
               street=f"800 S Orchard Ave Apt {i + 1}", city="Ukiah", zip_="95482",
               place=f"pl-orchard800-{i + 1}", cat=f"c-tn{i}", cat_name="Patches",
               chip=f"9851120034573{10 + i}")
    clinic("p-tenant1", "building-phone", "Dale", "Fisk", "dalefisk@gmail.com", "707-555-2600",
           street="800 South Orchard Avenue #2", city="Ukiah", place="pl-orchard800-2",
           cat="c-tn1", cat_name="Patches", chip="985112003457311")

    # organisations typed where a person goes
    orgs = [("org:fof", "Friends of Ferals", "", "info@friendsofferals.org", "707-555-2700"),
            ("org:sonomahumane", "Sonoma Humane", "", "intake@sonomahumane-example.org", ""),
            ("org:coastvet", "Coast Veterinary Clinic", "", "", "707-555-2702"),
            ("org:petcolove", "Petco Love", "", "grants@petcolove-example.org", ""),
            ("org:alleycat", "Alley Cat Allies", "", "", "707-555-2704"),
            ("org:ftbragg", "Fort Bragg Feral Cat Project", "", "fbfcp@gmail.com", ""),
            ("org:ukiahanimal", "Ukiah Animal Hospital", "", "", "707-555-2706"),
            ("org:mchs", "Mendocino Coast Humane Society", "", "", "707-555-2707")]
    for i, (oid, first, last, email, ph) in enumerate(orgs):
        clinic(oid, "organisation", first, last, email, ph, street=f"{900 + i} Airport Park Blvd",
               city="Ukiah", zip_="95482", place=f"pl-airport{900 + i}", cat=f"c-o{i}",
               cat_name="Rescue", chip=f"9851120034574{10 + i}")
    request("org:fof", "organisation", "Friends of Ferals", "info@friendsofferals.org",
            "707-555-2700", "900 Airport Park Blvd, Ukiah", "pl-airport900")
    request("p-morgan", "organisation-contact", "Kathy Morgan", "info@friendsofferals.org",
            "707-555-2710", "66 Gibson St, Ukiah", "pl-gibson66")
    clinic("p-morgan", "organisation-contact", "Kathy", "Morgan", "kmorgan.fof@gmail.com",
           "707-555-2710", street="66 Gibson Street", city="Ukiah", zip_="95482",
           place="pl-gibson66", cat="c-mo", cat_name="Whiskers", chip="985112003457420")


# --- places typed differently: the address classes --------------------------------------------

def address_classes() -> None:
    """One person each, with the same place typed the ways the research lists."""
    variants = [
        ("pl-a-seventh", [("700 Seventh St", "Lakeport", "95453"),
                          ("700 7th Street", "Lakeport", ""), ("700 7th St.", "", "95453")]),
        ("pl-a-blv", [("1234 Lakeport Blvd", "Lakeport", "95453"),
                      ("1234 Lakeport Blv.", "Lakeport", ""),
                      ("1234 Lakeport Boulevard", "Lakeport", "95453")]),
        ("pl-a-unit", [("45 Park Pl Apt 3", "Ukiah", "95482"), ("45 Park Place #3", "Ukiah", ""),
                       ("45 Park Pl, Unit 3", "Ukiah", "95482")]),
        ("pl-a-dir", [("1600 N State St", "Ukiah", "95482"),
                      ("1600 North State Street", "Ukiah", ""),
                      ("1600 N. State St.", "Ukiah", "95482")]),
        ("pl-a-hwy", [("24500 Hwy 20", "Willits", "95490"),
                      ("24500 State Route 20", "Willits", ""),
                      ("24500 CA-20", "Willits", "95490")]),
        ("pl-a-note", [("300 Orchard Ave (behind the feed store)", "Ukiah", "95482"),
                       ("300 Orchard Ave", "Ukiah", "95482"),
                       ("300 Orchard Avenue near the creek", "Ukiah", "95482")]),
        ("pl-a-zip4", [("88 Pomo Ln", "Ukiah", "95482-4410"), ("88 Pomo Lane", "UKIAH", "95482"),
                       ("88 pomo ln", "ukiah", "")]),
        ("pl-a-rr", [("RR 2 Box 15", "Covelo", "95428"), ("Rural Route 2, Box 15", "Covelo", ""),
                     ("R.R. 2 Bx 15", "Covelo", "95428")]),
        ("pl-a-range", [("100-110 Perkins St", "Ukiah", "95482"),
                        ("100 Perkins St", "Ukiah", "95482")]),
        ("pl-a-ordinal-co", [("5 County Road 301", "Willits", "95490"),
                             ("5 CR 301", "Willits", "95490")]),
    ]
    names = [("Ruth", "Ellison"), ("Omar", "Sadiq"), ("Beatriz", "Lujan"), ("Carl", "Wegner"),
             ("Dolly", "Fenn"), ("Ian", "McAuliffe"), ("June", "Okafor"), ("Hal", "Sutter"),
             ("Vera", "Quist"), ("Lou", "Baptiste")]
    for i, ((pl, forms), (first, last)) in enumerate(zip(variants, names, strict=True)):
        pid = f"p-addr{i}"
        phone = f"707-555-28{i:02d}"
        for j, (street, city, zip_) in enumerate(forms):
            if j == 1:
                addr = ", ".join(x for x in (street, city, "CA", zip_) if x)
                request(pid, "address-variants", f"{first} {last}", phone=phone, address=addr,
                        place=pl)
            else:
                clinic(pid, "address-variants", first, last, phone=phone, street=street,
                       city=city, zip_=zip_, place=pl, cat=f"c-a{i}-{j}", cat_name="Stray",
                       chip=f"98511200346{i:02d}{j:02d}")


# --- ordinary people around the traps ------------------------------------------------------------

FIRST = ["Alma", "Brent", "Celia", "Dmitri", "Esther", "Felipe", "Gwen", "Hiro", "Imani", "Jonah",
         "Keiko", "Luis", "Marisol", "Nolan", "Odessa", "Pablo", "Quinn", "Rhea", "Silas", "Tess",
         "Uriel", "Vanessa", "Warren", "Ximena", "Yusuf", "Zelda", "Arturo", "Bonnie", "Cruz",
         "Delia", "Emmett", "Fiona", "Gilberto", "Hattie", "Ismael", "Jolene", "Kurt", "Leticia",
         "Mabel", "Nestor"]
LAST = ["Abernathy", "Bautista", "Cordero", "Dunleavy", "Espinoza", "Faulkner", "Galvan",
        "Hargrove", "Iverson", "Jimenez", "Kowalczyk", "Lindgren", "Madrigal", "Nakamura",
        "Ochoa", "Pendleton", "Quintero", "Rasmussen", "Salcedo", "Thibodeaux", "Underhill",
        "Villalobos", "Waverly", "Yazzie", "Zamora", "Ashby", "Brandt", "Castellanos", "Dooley",
        "Estrada"]
STREETS = ["Maple", "Willow", "Sycamore", "Manzanita", "Madrone", "Buckeye", "Live Oak",
           "Poplar", "Alder", "Hazel", "Juniper", "Laurel Ridge", "Quail", "Heron", "Fawn"]
SUFFIX = [("St", "Street", "St."), ("Ave", "Avenue", "Ave."), ("Rd", "Road", "Rd."),
          ("Ln", "Lane", "Ln."), ("Dr", "Drive", "Dr."), ("Ct", "Court", "Ct.")]
TOWNS = [("Ukiah", "95482"), ("Willits", "95490"), ("Lakeport", "95453"), ("Clearlake", "95422"),
         ("Redwood Valley", "95470"), ("Hopland", "95449")]
DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "icloud.com", "comcast.net", "att.net"]


def phone_as(rng: random.Random, digits: str) -> str:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return rng.choice([f"{a}-{b}-{c}", f"({a}) {b}-{c}", f"{a}.{b}.{c}", f"{a}{b}{c}",
                       f"{a} {b} {c}", f"1-{a}-{b}-{c}", f"+1 {a} {b} {c}"])


def ordinary_people(rng: random.Random, n: int) -> None:
    """People with their own phone (and mostly an email), 1–4 records each, typed with the
    small variations every export has."""
    used: set[tuple[str, str]] = set()
    for i in range(n):
        while True:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            if (first, last) not in used:
                used.add((first, last))
                break
        pid = f"p-o{i:03d}"
        digits = f"707555{3000 + i:04d}"
        email = (f"{first[0]}{last}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}".lower()
                 if rng.random() < 0.6 else "")
        house = rng.randint(2, 9800)
        name, sfx = rng.choice(STREETS), rng.choice(SUFFIX)
        town, zip_ = rng.choice(TOWNS)
        pl = f"pl-o{i:03d}"
        for j in range(rng.choice([1, 1, 2, 2, 3, 4])):
            street = f"{house} {name} {rng.choice(sfx)}"
            e = email if (email and rng.random() < 0.8) else ""
            e = e.upper() if e and rng.random() < 0.15 else e
            ph = phone_as(rng, digits) if (not e or rng.random() < 0.7) else ""
            if rng.random() < 0.5:
                clinic(pid, "ordinary", first, last if rng.random() > 0.05 else last.upper(),
                       e, ph, street=street, city=town if rng.random() < 0.9 else "",
                       zip_=zip_ if rng.random() < 0.7 else "", place=pl,
                       cat=f"c-o{i:03d}-{j}", cat_name=rng.choice(["Tom", "Callie", "Unknown", ""]),
                       chip=f"9851120034{i:03d}{j:02d}" if rng.random() < 0.8 else "")
            else:
                request(pid, "ordinary", f"{first} {last}", e, ph,
                        f"{street}, {town}" + (f" CA {zip_}" if rng.random() < 0.5 else ""), pl)


def main() -> None:
    rng = random.Random(SEED)
    same_person_classes()
    different_people_classes()
    address_classes()
    ordinary_people(rng, 70)
    # the order records arrive in is the clinic's then the form's, each shuffled (as a
    # sheet sorted by another column would be), so no class depends on a friendly order
    clinic_rows = [r for r in R if r.source == "clinic"]
    request_rows = [r for r in R if r.source == "request"]
    rng.shuffle(clinic_rows)
    rng.shuffle(request_rows)
    truth: list[list[str]] = []
    with (HERE / "clinic.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CLINIC_HEADER)
        for n, r in enumerate(clinic_rows, 1):
            rid = f"RC-{n:04d}"
            w.writerow([rid, f"{3 + n % 9}/{1 + n % 27}/2025", r.first, r.last, r.email, r.phone,
                        r.alt, r.street, r.city, r.zip, r.cat_name, r.chip])
            truth.append(["clinic", rid, r.person, r.place, r.cat, r.cls])
    with (HERE / "requests.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(REQUEST_HEADER)
        for n, r in enumerate(request_rows, 1):
            rid = f"4/{1 + n % 28}/2025 {8 + n % 10}:{n % 60:02d}:{(7 * n) % 60:02d}"
            w.writerow([rid, r.full, r.email, r.phone, r.street, rng.choice(["3", "about 5", ""])])
            truth.append(["requests", rid, r.person, r.place, "", r.cls])
    with (HERE / "truth.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TRUTH_HEADER)
        w.writerows(truth)
    print(f"clinic {len(clinic_rows)} rows, requests {len(request_rows)} rows")


if __name__ == "__main__":
    main()
