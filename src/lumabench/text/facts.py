"""Hand-written facts about each class, the offline complement of the WordNet facts.

Each entry gives the noun forms the templates need, a WordNet sense hint (which sense of an
ambiguous word is meant: `ray` the fish, `tank` the vehicle, `plain` the land), and short phrases:
how it looks, what it has, where it is found, what it does, and a few whole-sentence facts.
Phrases never name another class (tests/test_text_template.py checks it), so a text names its
own class far more often than any other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassFacts:
    """Facts about one class; list fields are '|'-separated phrases."""

    sg: str
    pl: str
    hint: str
    kind: str
    looks: str
    features: str
    places: str
    actions: str
    facts: str
    a: str = ""  # indefinite phrase when "a/an + sg" is wrong (mass nouns)

    def phrases(self, field: str) -> tuple[str, ...]:
        return tuple(p.strip() for p in getattr(self, field).split("|") if p.strip())

    @property
    def indefinite(self) -> str:
        if self.a:
            return self.a
        return ("an " if self.sg[0] in "aeiou" else "a ") + self.sg

    @property
    def definite(self) -> str:
        return "the " + (self.a.split(" ", 1)[1] if self.a else self.sg)


F = ClassFacts

FACTS: dict[str, ClassFacts] = {
    "man": F("man", "men", "adult", "person",
             "tall|bearded|broad-shouldered|smiling|thoughtful|grey-haired|calm|cheerful",
             "a short beard|a deep voice|strong hands|a warm smile|a checked shirt|a pair of glasses",
             "in an office|at a market|in a workshop|at a crossing|in a park|at a cafe",
             "read a newspaper|fix a broken fence|cook dinner|walk to work|laugh with friends|carry a heavy box",
             "{A} is an adult male human.|Many {pl} work, raise families and take part in community life.|"
             "In old paintings {a} is often shown wearing a hat and a long coat."),
    "boy": F("boy", "boys", "male child", "child",
             "young|energetic|curious|freckled|cheerful|small|playful|sleepy",
             "scuffed sneakers|a baseball cap|a backpack|messy hair|a gap-toothed grin|muddy knees",
             "in a schoolyard|on a playground|in a park|at a summer camp|in a classroom|on a football pitch",
             "kick a ball|climb a tree|ride a scooter|build a sandcastle|read a comic|fly a kite",
             "{A} is a male child who has not yet grown up.|Most {pl} go to school and love to play games.|"
             "{A} grows taller very quickly during his teenage years."),
    "house": F("house", "houses", "dwelling", "building",
               "cosy|white|red-brick|two-storey|old|modern|wooden|spacious",
               "a tiled roof|a front door|tall windows|a chimney|a small garden|a porch",
               "in a quiet street|in a village|in the suburbs|on a hill|beside a lake|in a small town",
               "stand at the end of the lane|glow with warm light|shelter a family|face the morning sun",
               "{A} is a building where people live.|{Pl} are built from brick, stone, wood or concrete.|"
               "Most {pl} have a kitchen, a living room and at least one bedroom."),
    "woman": F("woman", "women", "adult female", "person",
               "tall|elegant|smiling|confident|kind|dark-haired|thoughtful|cheerful",
               "long hair|a red scarf|a warm smile|a leather bag|silver earrings|a summer dress",
               "in an office|at a market|in a library|in a garden|at a railway platform|in a cafe",
               "read a book|paint a picture|walk in the park|talk on the phone|plant flowers|laugh with friends",
               "{A} is an adult female human.|Many {pl} work as doctors, teachers, engineers and artists.|"
               "In many portraits {a} is shown sitting near a window."),
    "girl": F("girl", "girls", "youthful", "child",
              "young|cheerful|curious|freckled|playful|shy|small|lively",
              "pigtails|a bright dress|a school bag|red boots|a hair ribbon|a friendly smile",
              "in a schoolyard|on a playground|in a park|in a garden|in a classroom|at the beach",
              "skip rope|draw with crayons|ride a scooter|read a story|pick flowers|sing a song",
              "{A} is a female child who has not yet grown up.|Most {pl} go to school and love to play.|"
              "{A} often has a favourite toy or book."),
    "table": F("table", "tables", "furniture", "piece of furniture",
               "wooden|round|square|long|polished|sturdy|small|walnut-brown",
               "four legs|a flat top|a smooth surface|a drawer|carved edges|a glass top",
               "in a kitchen|in a dining room|in a classroom|in a restaurant|on a terrace|in an office",
               "hold plates and cups|stand in the middle of the room|wobble on the uneven floor",
               "{A} is a piece of furniture with a flat top.|People eat, write and work at {pl}.|"
               "{A} usually rests on four legs, but some have a single central leg."),
    "road": F("road", "roads", "way", "route",
              "long|winding|straight|dusty|busy|empty|narrow|wide",
              "painted lines|a smooth surface|a gravel shoulder|traffic signs|streetlights|a sharp bend",
              "through the countryside|between two towns|across the desert|along the coast|through a valley",
              "wind through the hills|stretch toward the horizon|carry heavy traffic|curve along the coast",
              "{A} is a long way with a prepared surface for cars and other vehicles.|"
              "Most {pl} are paved with asphalt or concrete.|Drivers follow signs and markings on the {sg}."),
    "horse": F("horse", "horses", "quadruped", "animal",
               "brown|black|chestnut|grey|white|spotted|tall|muscular|graceful|sleek",
               "a long flowing mane|four slender legs|hard hooves|a swishing tail|large dark eyes|pointed ears",
               "in open fields|on farms|in stables|in paddocks|on ranches|in meadows",
               "gallop across the field|graze on fresh grass|trot along a dirt track|neigh loudly|"
               "carry a rider|pull a cart|jump over a fence|drink from a trough",
               "{Pl} have been domesticated for thousands of years.|{A} can sleep standing up.|"
               "Riders use a saddle and bridle to guide {a}."),
    "dog": F("dog", "dogs", "canis", "animal",
             "brown|black|white|fluffy|small|large|spotted|loyal|playful|shaggy",
             "a wagging tail|floppy ears|a wet nose|a thick coat|sharp teeth|a leather collar",
             "in a backyard|in a park|on a farm|at the beach|by the fireplace|in a kennel",
             "fetch a stick|bark at the postman|chase a ball|dig in the garden|wag its tail|sniff the grass",
             "{Pl} were the first animals to be domesticated.|{A} has a very keen sense of smell.|"
             "Many {pl} are trained to guide, herd or rescue people."),
    "ship": F("ship", "ships", "vessel", "vessel",
              "large|white|rusty|steel|ocean-going|majestic|grey|gleaming",
              "a tall mast|a steel hull|a wide deck|a smoking funnel|a heavy anchor|rows of portholes",
              "in the harbour|on the ocean|at the dock|near the coast|in the port|on the open water",
              "sail across the ocean|dock in the harbour|carry cargo|sound its horn|cut through the waves",
              "{A} is a large vessel that travels on the ocean.|{Pl} carry goods and passengers between ports.|"
              "The captain steers {the} from the wheelhouse."),
    "bird": F("bird", "birds", "vertebrate", "animal",
              "small|colourful|bright|feathered|tiny|graceful|quick|blue",
              "soft feathers|a pointed beak|two thin legs|bright eyes|long wings|a forked tail",
              "in the garden|on a branch|in a nest|in the park|on a rooftop|near the lake",
              "sing at dawn|build a nest|fly over the fields|peck at seeds|flap its wings|hop along the fence",
              "{A} is a warm-blooded animal with feathers and wings.|Most {pl} can fly.|"
              "{Pl} lay eggs, usually in a nest."),
    "mountain": F("mountain", "mountains", "land mass", "landform",
                  "tall|snowy|rocky|steep|majestic|distant|rugged|jagged",
                  "a snowy peak|steep slopes|rocky cliffs|a narrow ridge|a glacier|a wide valley below",
                  "in the Alps|in the Himalayas|on the horizon|above the valley|in a national park",
                  "tower above the valley|glow in the evening light|disappear into the mist",
                  "{A} is a landform that rises high above its surroundings.|"
                  "The air is thin and cold near the top of a high {sg}.|Climbers need skill to reach the summit."),
    "bed": F("bed", "beds", "furniture", "piece of furniture",
             "soft|large|wooden|neatly made|comfortable|cosy|narrow|double",
             "a soft mattress|fluffy pillows|a warm blanket|a wooden headboard|clean sheets|a quilt",
             "in a bedroom|in a hotel room|in a guest room|in a hospital|in a dormitory",
             "stand against the wall|wait with fresh sheets|creak at night",
             "{A} is a piece of furniture for sleeping.|People spend about a third of their lives in {a}.|"
             "{A} usually has a mattress on a frame."),
    "train": F("train", "trains", "railway", "vehicle",
               "long|fast|red|modern|old|steam-powered|electric|shiny",
               "a powerful locomotive|many carriages|steel wheels|a whistle|sliding doors|a long line of cars",
               "at the station|on the railway|in the countryside|in a tunnel|on the tracks",
               "pull into the station|rush through the countryside|blow its whistle|cross the valley",
               "{A} is a line of railway cars pulled by a locomotive.|{Pl} carry passengers and freight.|"
               "High-speed {pl} can travel faster than three hundred kilometres an hour."),
    "bridge": F("bridge", "bridges", "structure", "structure",
                "long|stone|steel|arched|old|suspended|narrow|elegant",
                "tall towers|steel cables|stone arches|a railing|strong pillars|a wide span",
                "over a river|across a valley|in the city|over a canal|across a bay",
                "span the river|connect two towns|carry heavy traffic|sway slightly in the wind",
                "{A} is a structure that carries a path or track over an obstacle.|"
                "Some {pl} are made of stone, others of steel or concrete.|"
                "Engineers design {pl} to hold enormous loads."),
    "fish": F("fish", "fish", "aquatic vertebrate", "animal",
              "colourful|silver|small|striped|shiny|orange|bright|spotted",
              "shiny scales|delicate fins|a flat tail|round eyes|gills|a slender body",
              "in an aquarium|in a river|in a pond|in a lake|in a coral reef|in a glass bowl",
              "swim in circles|dart between plants|blow bubbles|hide behind a rock|feed on small flakes",
              "{A} is a cold-blooded animal that lives in water.|{Pl} breathe through their gills.|"
              "Aquarium {pl} come in many bright colours."),
    "cloud": F("cloud", "clouds", "water", "natural phenomenon",
               "white|fluffy|grey|dark|puffy|towering|thin|billowing",
               "soft edges|a flat base|a towering top|a silver lining|a puffy shape",
               "in the sky|above the hills|over the fields|above the city|on the horizon",
               "drift across the sky|cover the sun|bring light rain|change shape slowly",
               "{A} is a visible mass of tiny water droplets or ice crystals.|"
               "{Pl} form when moist air cools.|Dark {pl} often mean that rain is coming."),
    "chair": F("chair", "chairs", "seat", "piece of furniture",
               "wooden|comfortable|red|old|folding|modern|cushioned|sturdy",
               "four legs|a high back|two armrests|a soft cushion|a woven seat|a curved frame",
               "in a kitchen|in an office|on a porch|in a classroom|in a living room|in a garden",
               "stand by the window|wait at the desk|rock gently on the porch",
               "{A} is a seat for one person, usually with a back and four legs.|"
               "{Pl} can be made of wood, metal or plastic.|{A} with arms is called an armchair."),
    "cat": F("cat", "cats", "feline", "animal",
             "fluffy|grey|black|ginger|striped|small|sleek|curious",
             "soft fur|long whiskers|green eyes|sharp claws|a long tail|pointed ears",
             "on a windowsill|in the garden|on a sofa|in a basket|on a fence|by the fireplace",
             "chase a string|purr softly|stretch lazily|groom its fur|nap in the sun|climb a fence",
             "{Pl} are skilled hunters with excellent night vision.|{A} spends many hours a day sleeping.|"
             "{Pl} were domesticated thousands of years ago."),
    "baby": F("baby", "babies", "child", "child",
              "tiny|chubby|sleepy|smiling|newborn|gentle|curious|rosy-cheeked",
              "tiny fingers|soft skin|a round face|a little cap|a pacifier|big curious eyes",
              "in a crib|in a pram|in a nursery|in a cot|in a parent's arms",
              "giggle happily|sleep peacefully|grab a toy|crawl across the rug|cry for milk",
              "{A} is a very young child.|{Pl} sleep for most of the day.|"
              "{A} learns to crawl, stand and then walk during the first year."),
    "castle": F("castle", "castles", "fortification", "building",
                "old|stone|grey|massive|ancient|majestic|ruined|medieval",
                "tall towers|thick walls|a drawbridge|a moat|battlements|a heavy gate",
                "on a hill|beside a lake|in the countryside|above the village|on a cliff",
                "stand on the hilltop|guard the valley|loom over the village",
                "{A} is a large fortified building from the Middle Ages.|"
                "{Pl} were built to protect nobles and their lands.|Many {pl} are now museums."),
    "forest": F("forest", "forests", "trees", "landscape",
                "dense|green|dark|quiet|ancient|misty|lush|wild",
                "tall trees|a thick canopy|mossy ground|fallen leaves|a winding path|ferns",
                "in the north|across the hills|in the valley|in a national park|near the village",
                "stretch for miles|rustle in the wind|shelter many animals|glow in autumn colours",
                "{A} is a large area covered with trees.|{Pl} produce much of the oxygen we breathe.|"
                "Many animals find shelter and food in {a}."),
    "television": F("television", "televisions", "receiver", "device",
                    "flat|large|black|old|modern|widescreen|thin|bulky",
                    "a bright screen|a remote control|a thin frame|speakers|a glossy panel",
                    "in a living room|on a wall|in a bedroom|in a cafe|in a waiting room",
                    "show the evening news|flicker in the dark|play a cartoon|broadcast a match",
                    "{A} is a device that receives signals and shows moving pictures.|"
                    "Early {pl} had small round screens.|Modern {pl} are thin and light."),
    "bear": F("bear", "bears", "mammal", "animal",
              "brown|black|huge|furry|powerful|shaggy|heavy|white",
              "thick fur|strong claws|a large head|small round ears|a short tail|powerful legs",
              "in the woods|near a river|in the highlands|in a cave|in the tundra|in a zoo",
              "catch salmon|climb a tree|stand on its hind legs|sleep through the winter|search for berries",
              "{Pl} are large mammals with thick fur.|{A} can smell food from far away.|"
              "Many {pl} sleep through the cold winter months."),
    "camel": F("camel", "camels", "ruminant", "animal",
               "tall|sandy|brown|patient|tough|humped|long-legged|gentle",
               "one or two humps|long legs|thick eyelashes|wide padded feet|a long neck",
               "in the desert|at an oasis|in a caravan|on the dunes|in a market",
               "cross the desert|carry heavy loads|rest in the shade|chew slowly|walk across the dunes",
               "{A} can go for days without drinking water.|{Pl} store fat in their humps.|"
               "People have used {pl} to cross deserts for thousands of years."),
    "sea": F("sea", "seas", "ocean", "body of water",
             "blue|calm|stormy|wide|deep|sparkling|grey|endless",
             "rolling waves|salty water|white foam|a sandy shore|a wide horizon",
             "along the coast|beyond the harbour|near the island|under the sky|past the cliffs",
             "crash against the rocks|sparkle in the sun|stretch to the horizon|roar in the storm",
             "{A} is a large body of salt water.|The {sg} covers much of the Earth's surface.|"
             "Tides rise and fall along the shore of the {sg} every day."),
    "fox": F("fox", "foxes", "canine", "animal",
             "red|orange|sly|small|bushy-tailed|quick|clever|slender",
             "a bushy tail|pointed ears|a narrow snout|amber eyes|black legs|a white-tipped tail",
             "in the woods|at the edge of a field|in a den|in the snow|near a farm|in the city",
             "hunt for voles|sneak through the grass|trot across the snow|dig a den",
             "{A} is a small wild animal related to jackals and coyotes.|{Pl} are known for their cleverness.|"
             "{A} often hunts at night."),
    "plain": F("plain", "plains", "level", "landscape",
               "wide|flat|open|grassy|endless|golden|windswept|vast",
               "tall grass|a flat horizon|scattered shrubs|a wide sky|gentle slopes",
               "in the middle of the continent|across the prairie|beyond the hills|in the savanna",
               "stretch to the horizon|ripple in the wind|turn golden in summer",
               "{A} is a wide area of flat land.|Grasses and crops grow well on {pl}.|"
               "Herds of animals graze on the open {pl}."),
    "bus": F("bus", "buses", "passengers", "vehicle",
             "red|yellow|double-decker|crowded|long|modern|electric|old",
             "large windows|folding doors|many seats|a route number|big wheels|a long body",
             "at the bus stop|in the city centre|on the highway|at the depot|in traffic",
             "stop for passengers|turn the corner|drive through the city|wait at the terminal",
             "{A} is a large vehicle that carries many passengers.|{Pl} run on fixed routes.|"
             "School {pl} in many countries are painted yellow."),
    "snake": F("snake", "snakes", "reptile", "animal",
               "long|green|scaly|slender|striped|venomous|coiled|shiny",
               "smooth scales|a forked tongue|no legs|a flat head|a long body|a rattling tail",
               "in the grass|under a rock|in the desert|in the jungle|on a branch|near the water",
               "slither through the grass|coil around a branch|flick its tongue|shed its skin|bask in the sun",
               "{A} is a long reptile without legs.|Some {pl} are venomous.|{Pl} shed their skin as they grow."),
    "lamp": F("lamp", "lamps", "light", "device",
              "bright|tall|brass|small|antique|modern|glowing|elegant",
              "a fabric shade|a light bulb|a metal base|a long cord|a switch|a bendable arm",
              "on a desk|beside the sofa|on a nightstand|in a corner|in a study",
              "cast a warm glow|light up the room|flicker softly|shine on the page",
              "{A} is a device that gives light.|Many {pl} have a shade to soften the light.|"
              "{A} on a desk helps people read at night."),
    "clock": F("clock", "clocks", "timepiece", "device",
               "round|old|wooden|large|antique|digital|brass|ticking",
               "two hands|a round face|large numbers|a pendulum|a glass cover|a bell",
               "on the wall|on a mantelpiece|in a tower|in the kitchen|in a railway hall",
               "tick quietly|strike twelve|chime every hour|show the time",
               "{A} is a device that shows the time.|Old {pl} use a pendulum to keep time.|"
               "The {sg} on the tower can be seen from far away."),
    "lion": F("lion", "lions", "feline", "animal",
              "golden|powerful|majestic|proud|tawny|fierce|strong|large",
              "a thick mane|sharp teeth|powerful paws|golden fur|amber eyes|a long tail",
              "on the savanna|in the grassland|under an acacia tree|in a zoo|near a water hole",
              "roar loudly|rest in the shade|hunt with the pride|stalk through the grass",
              "{Pl} live in groups called prides.|{A} can roar loudly enough to be heard far away.|"
              "The male {sg} has a thick mane around its head."),
    "tank": F("tank", "tanks", "military vehicle", "vehicle",
              "heavy|armoured|green|camouflaged|huge|powerful|rugged|massive",
              "a long gun|thick armour|caterpillar tracks|a turret|a heavy hatch",
              "on the battlefield|in a museum|on a training ground|in the desert|at a parade",
              "roll across the field|rumble along the track|climb over a ditch|turn its turret",
              "{A} is an armoured military vehicle that moves on tracks.|{Pl} first appeared in the First World War.|"
              "The crew of {a} sits inside its thick armour."),
    "palm": F("palm", "palms", "tree", "tree",
              "tall|slender|green|tropical|swaying|leafy|graceful|tall-trunked",
              "large fan-shaped leaves|a slender trunk|coconuts|long fronds|a crown of leaves",
              "on the beach|in the tropics|in an oasis|along the promenade|on an island",
              "sway in the breeze|give shade|grow on the beach|rustle in the wind",
              "{A} is a tree with a tall trunk and a crown of large leaves.|{Pl} grow in warm climates.|"
              "Some {pl} produce coconuts or dates."),
    "rabbit": F("rabbit", "rabbits", "leporid", "animal",
                "small|fluffy|white|brown|soft|quick|timid|grey",
                "long ears|a fluffy tail|soft fur|strong hind legs|a twitching nose|whiskers",
                "in a meadow|in a burrow|in the garden|in a hutch|in the field",
                "hop across the lawn|nibble a carrot|dig a burrow|twitch its nose|hide in the grass",
                "{A} is a small mammal with long ears.|{Pl} live in burrows underground.|"
                "{A} can run very fast to escape from danger."),
    "pine": F("pine", "pines", "conifer", "tree",
              "tall|green|evergreen|straight|fragrant|old|dark|slender",
              "long needles|pinecones|rough bark|a straight trunk|resin",
              "in the hills|on the slopes|in the north|near the lake|in a park",
              "stay green in winter|sway in the wind|drop its cones|fill the air with fragrance",
              "{A} is an evergreen tree with needles instead of leaves.|{Pl} produce cones that hold seeds.|"
              "The wood of the {sg} is used for furniture and paper."),
    "cattle": F("cattle", "cattle", "bovine", "group of farm animals",
                "brown|black|white|spotted|large|calm|heavy|gentle",
                "horns|big brown eyes|swishing tails|heavy bodies|wet noses",
                "in the pasture|on the farm|in the barn|on the ranch|in a meadow",
                "graze in the meadow|chew the cud|walk to the barn|drink from the trough|rest in the shade",
                "{Pl} are raised for milk, meat and leather.|Farmers move their {pl} between pastures.|"
                "{Pl} spend many hours a day chewing grass.", a="a herd of cattle"),
    "oak": F("oak", "oaks", "quercus", "tree",
             "tall|old|massive|strong|green|broad|ancient|sturdy",
             "a thick trunk|wide branches|lobed leaves|acorns|rough bark",
             "in the park|in the countryside|on the hill|in the meadow|beside the church",
             "spread its branches|give shade|drop acorns|turn brown in autumn",
             "{A} is a large tree that produces acorns.|{Pl} can live for hundreds of years.|"
             "The wood of the {sg} is hard and strong."),
    "mouse": F("mouse", "mice", "rodent", "animal",
               "small|grey|brown|tiny|quick|timid|furry|white",
               "a long tail|round ears|tiny paws|whiskers|a pointed nose|bright black eyes",
               "in the barn|in the field|under the floor|in the pantry|in a hole in the wall",
               "nibble on cheese|scurry across the floor|hide in a hole|sniff the air",
               "{A} is a small rodent with a long tail.|{Pl} breed very quickly.|"
               "{A} can squeeze through tiny gaps."),
    "frog": F("frog", "frogs", "amphibian", "animal",
              "green|small|slimy|spotted|bright|brown|round-eyed|colourful",
              "long back legs|webbed feet|bulging eyes|smooth skin|a wide mouth",
              "in the pond|on a lily pad|by the river|in the marsh|in the rainforest",
              "croak loudly|leap into the water|catch a fly|sit on a lily pad|swim across the pond",
              "{A} is an amphibian that lives both in water and on land.|{Pl} begin life as tadpoles.|"
              "{A} catches insects with its long sticky tongue."),
    "ray": F("ray", "rays", "flattened", "animal",
             "flat|grey|spotted|graceful|wide|gliding|brown|large",
             "wide flat fins|a long thin tail|a flat body|eyes on top of its head|gill slits underneath",
             "on the ocean floor|in the reef|in shallow water|near the coast|in an aquarium",
             "glide over the sand|bury itself in the sand|flap its fins|swim near the bottom",
             "{A} is a flat marine animal related to sharks.|{Pl} glide through the water by flapping their fins.|"
             "Some {pl} have a stinging spine on their tail."),
    # ------------------------------------------------------------ out-of-distribution classes
    "bicycle": F("bicycle", "bicycles", "wheeled vehicle", "vehicle",
                 "red|blue|old|light|fast|rusty|shiny|sturdy",
                 "two wheels|pedals|a chain|handlebars|a saddle|a bell",
                 "in the garage|on the cycle path|in the park|against a fence|in the street",
                 "speed down the hill|lean against the wall|ring its bell|roll along the path",
                 "{A} is a vehicle with two wheels that is moved by pedals.|{Pl} do not pollute the air.|"
                 "Riding {a} is good exercise."),
    "truck": F("truck", "trucks", "motor vehicle", "vehicle",
               "large|heavy|red|white|dusty|powerful|old|pickup",
               "big wheels|a cargo area|a cab|a loud engine|bright headlights",
               "on the highway|at the warehouse|on a building site|at the farm|in the parking lot",
               "haul heavy loads|rumble down the highway|unload boxes|climb the hill",
               "{A} is a motor vehicle for carrying goods.|{Pl} deliver food and goods to shops.|"
               "A pickup {sg} has an open cargo area at the back."),
    "elephant": F("elephant", "elephants", "proboscidean", "animal",
                  "huge|grey|wrinkled|gentle|heavy|massive|old|wise",
                  "a long trunk|large ears|ivory tusks|thick skin|pillar-like legs",
                  "on the savanna|in the jungle|at the water hole|in a national park|in a zoo",
                  "spray water with its trunk|flap its ears|walk in a herd|eat leaves",
                  "{Pl} are the largest land animals.|{A} uses its trunk to drink and to grab food.|"
                  "{Pl} have excellent memories."),
    "roses": F("rose", "roses", "shrub", "flower",
               "red|pink|white|yellow|fragrant|blooming|delicate|velvety",
               "soft petals|sharp thorns|green leaves|a long stem|a sweet scent",
               "in the garden|in a vase|in a bouquet|along the fence|in a flower shop",
               "bloom in summer|open in the sun|fill the garden with scent|climb the trellis",
               "{Pl} are flowering shrubs with thorny stems.|{Pl} are a symbol of love.|"
               "Gardeners prune {pl} every spring."),
    "wolf": F("wolf", "wolves", "canine", "animal",
              "grey|wild|fierce|lean|white|howling|strong|alert",
              "sharp teeth|thick fur|yellow eyes|a bushy tail|powerful jaws",
              "in the wilderness|in the woods|on the tundra|in the snow|in the hills",
              "howl at the moon|hunt in a pack|run through the snow|track its prey",
              "{Pl} live and hunt in packs.|{A} can travel long distances in a single night.|"
              "The howl of {a} can be heard from far away."),
    "telephone": F("telephone", "telephones", "electronic equipment", "device",
                   "old|black|red|rotary|modern|cordless|plastic|vintage",
                   "a handset|a rotary dial|a curly cord|buttons|a ringer",
                   "on the desk|in the hall|on the wall|in a phone box|in the office",
                   "ring loudly|connect two callers|sit silently on the desk",
                   "{A} lets people talk to each other over long distances.|"
                   "The first {pl} were invented in the nineteenth century.|Old {pl} had a rotary dial."),
    "bee": F("bee", "bees", "insect", "insect",
             "small|striped|yellow|black|buzzing|busy|fuzzy|golden",
             "transparent wings|a striped body|a stinger|six legs|long antennae",
             "in the garden|in a hive|on a flower|in the meadow|near the orchard",
             "buzz around the flowers|collect nectar|make honey|fly back to the hive",
             "{Pl} make honey from the nectar of flowers.|{A} lives in a colony with a queen.|"
             "{Pl} help plants by carrying pollen."),
    "whale": F("whale", "whales", "cetacean", "animal",
               "huge|grey|blue|massive|gentle|majestic|dark|enormous",
               "a huge tail|a blowhole|flippers|a long body|baleen plates",
               "in the ocean|near the coast|in cold waters|in the deep",
               "breach the surface|spout water|dive deep|sing underwater|swim slowly",
               "{Pl} are the largest animals on Earth.|{A} breathes air through a blowhole.|"
               "Some {pl} migrate thousands of kilometres each year."),
}  # fmt: skip
