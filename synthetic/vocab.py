"""Word lists for the synthetic world: Sonoma County streets and towns, names, cats."""

FIRST_NAMES = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily "
    "Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah "
    "Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Dorothy "
    "Jacob Amy Gary Kathleen Nicholas Angela Eric Shirley Jonathan Brenda Stephen Emma Larry "
    "Anna Justin Pamela Scott Nicole Brandon Samantha Benjamin Katherine Samuel Christine "
    "Gregory Debra Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack Olivia "
    "Dennis Heather Jerry Helen Tyler Catherine Aaron Diane Jose Julie Adam Victoria Nathan "
    "Joyce Henry Lauren Zachary Kelly Douglas Christina Peter Ruth Kyle Joan Noah Virginia "
    "Ethan Judith Jeremy Evelyn Christian Hannah Walter Andrea Keith Megan Austin Cheryl "
    "Roger Jacqueline Terry Madison Sean Teresa Gerald Abigail Carl Sophia Dylan Martha "
    "Harold Sara Jordan Gloria Jesse Janice Bryan Kathryn Lawrence Ann Arthur Isabella "
    "Gabriel Judy Bruce Charlotte Logan Julia Billy Grace Joe Amber Alan Alice Juan Jean "
    "Elijah Denise Willie Frances Albert Danielle Wayne Marilyn Randy Natalie Mason Beverly "
    "Vincent Diana Liam Brittany Roy Theresa Bobby Kayla Caleb Alexis Bradley Doris Russell "
    "Lori Lucas Tiffany Guadalupe Rosa Miguel Carmen Luis Ana Jorge Sofia Francisco Lucia"
).split()

LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart "
    "Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed "
    "Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray "
    "Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez "
    "Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales "
    "Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds "
    "Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar "
    "Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington "
    "Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson "
    "Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes "
    "Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice "
    "Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant "
    "Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley "
    "Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Franchetti "
    "Farmer Dominguez Ortega Delgado Nakamura Yamamoto Larsen Lindqvist Okafor Haddad"
).split()

NICKNAMES = {
    "Robert": "Bob", "William": "Bill", "Richard": "Rick", "James": "Jim", "Michael": "Mike",
    "Elizabeth": "Liz", "Jennifer": "Jen", "Margaret": "Peggy", "Katherine": "Kathy",
    "Christopher": "Chris", "Joseph": "Joe", "Thomas": "Tom", "Daniel": "Dan",
    "Matthew": "Matt", "Anthony": "Tony", "Patricia": "Pat", "Deborah": "Deb",
    "Stephanie": "Steph", "Rebecca": "Becky", "Kimberly": "Kim", "Samantha": "Sam",
    "Nicholas": "Nick", "Jonathan": "Jon", "Benjamin": "Ben", "Alexander": "Alex",
    "Gregory": "Greg", "Timothy": "Tim", "Kenneth": "Ken", "Jacqueline": "Jackie",
    "Victoria": "Vicky", "Susan": "Sue", "Barbara": "Barb", "Cynthia": "Cindy",
}

# (town, zip, latitude, longitude) of each town's centre.
TOWNS = (
    ("Santa Rosa", "95401", 38.4405, -122.7144), ("Santa Rosa", "95403", 38.4807, -122.7494),
    ("Santa Rosa", "95404", 38.4547, -122.6897), ("Santa Rosa", "95405", 38.4393, -122.6716),
    ("Santa Rosa", "95407", 38.4020, -122.7360), ("Santa Rosa", "95409", 38.4621, -122.6194),
    ("Petaluma", "94952", 38.2324, -122.6367), ("Petaluma", "94954", 38.2520, -122.6100),
    ("Rohnert Park", "94928", 38.3396, -122.7011), ("Sebastopol", "95472", 38.4021, -122.8239),
    ("Windsor", "95492", 38.5471, -122.8164), ("Healdsburg", "95448", 38.6105, -122.8692),
    ("Cotati", "94931", 38.3277, -122.7092), ("Sonoma", "95476", 38.2919, -122.4580),
    ("Cloverdale", "95425", 38.8055, -123.0172), ("Guerneville", "95446", 38.5019, -122.9961),
)

STREET_NAMES = (
    "Main Sebastopol Mendocino College Stony Point Petaluma Hearn Fulton Guerneville "
    "Occidental Bodega Llano Todd Wright Dutton Olive Cherry Walnut Oak Pine Maple Cedar "
    "Sonoma Montecito Fountaingrove Summerfield Yulupa Farmers Brush Creek Calistoga "
    "Hoen Bennett Valley Franklin Humboldt Lincoln Washington Jefferson Madison Adams Grant "
    "Sunset Orchard Vineyard Redwood Manzanita Madrone Laguna Russian River Kenwood Glen "
    "Ellen Arnold Lakeville Bodega Bay Cypress Willow Sequoia Magnolia Poplar Alder Birch"
).split()

STREET_SUFFIXES = (
    ("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Drive", "Dr"), ("Lane", "Ln"),
    ("Court", "Ct"), ("Way", "Way"), ("Boulevard", "Blvd"), ("Place", "Pl"), ("Circle", "Cir"),
)

BUSINESSES = (
    "Speedy Creek Winery", "Petaluma Poultry", "Sonoma Valley Feed", "Redwood Auto Body",
    "Laguna Dairy Farm", "Russian River Vineyards", "Bodega Bay Marina", "Cotati Storage",
    "Northbay Landscaping", "Santa Rosa Tire Center",
)

CAT_NAMES = (
    "Whiskers Shadow Tiger Smokey Mittens Oreo Luna Simba Bella Oliver Milo Leo Kitty Chloe "
    "Pumpkin Ginger Boots Socks Midnight Patches Pepper Sassy Tux Felix Callie Coco Jasper "
    "Nala Max Charlie Lily Lucy Cleo Daisy Loki Mochi Biscuit Peanut Muffin Snowball Ziggy"
).split()

BREEDS = ("Domestic Short Hair", "Domestic Medium Hair", "Domestic Long Hair", "Siamese",
          "Maine Coon", "Tabby")
COLORS = ("Black", "Brown Tabby", "Orange Tabby", "Gray", "White", "Calico", "Tortoiseshell",
          "Black/White", "Gray Tabby", "Buff")
OWNERSHIP = ("Community Cat (Feral)", "Community Cat (Friendly)", "Owned", "Foster", "Shelter")
SERVICES = ("Spay", "Neuter", "Rabies Vaccine", "FVRCP Vaccine", "Microchip", "Ear Tip",
            "Flea Treatment", "Dewormer", "FeLV/FIV Test", "Pain Medication")

# ---- the real-world shapes of issue 17 (docs/synthetic-world.md, "Shapes") ---------------

ORDINAL_WORDS = (
    "First Second Third Fourth Fifth Sixth Seventh Eighth Ninth Tenth Eleventh Twelfth "
    "Thirteenth Fourteenth Fifteenth Sixteenth Seventeenth Eighteenth Nineteenth Twentieth"
).split()

# Misspellings and long forms people type, each one a row of USPS Pub 28 appendix C1
# (sql/core/012_address_standard.sql), keyed by the suffix's usual abbreviation.
SUFFIX_MISSPELLINGS = {
    "St": ("Stret", "Str", "Strt", "Steet"), "Ave": ("Av", "Aven", "Avenu", "Avn"),
    "Rd": ("Raod",), "Dr": ("Drv", "Driv"), "Ln": ("Lane",), "Ct": ("Crt",), "Way": ("Wy",),
    "Blvd": ("Blv", "Boul", "Boulv", "Blvrd"), "Pl": ("Plc",), "Cir": ("Circ", "Circl"),
}

# (abbreviation, word): pre-directionals (N Main St) and post-directionals (Piedmont Rd NE).
PRE_DIRECTIONALS = (("N", "North"), ("S", "South"), ("E", "East"), ("W", "West"))
POST_DIRECTIONALS = (("NE", "Northeast"), ("NW", "Northwest"), ("SE", "Southeast"),
                     ("SW", "Southwest"), ("N", "North"), ("W", "West"))

UNIT_FORMS = ("Apt {}", "#{}", "Unit {}", "APT {}", ", Apt. {}", "Ste {}", "Suite {}",
              "# {}")

# Notes people add after an address: cross streets and landmarks ({a}, {b}: ordinals).
CROSS_NOTES = ("between {a} and {b} Sts.", "at {a} St.", "near the park", "(behind the market)",
               "off {a} St", "across from the school", "(by the creek)")
LANDMARKS = ("Safeway", "Behind Safeway", "Oliver's Market", "Next to the church")

# Compound surnames are two LAST_NAMES joined by a hyphen; these carry particles.
PARTICLE_SURNAMES = ("de la Cruz", "van der Berg", "de Leon", "del Rio", "van Dijk",
                     "da Silva", "dos Santos", "de la Torre", "von Braun", "di Marco")
NAME_SUFFIXES = ("Jr.", "Sr.", "III", "II")
